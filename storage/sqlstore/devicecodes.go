package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/myaccount/myaccount/storage"
)

const deviceCodeColumns = `device_code_hash, user_code, client_id, scopes, device_name, state,
	user_id, auth_time, amr, created_at, expires_at, last_polled_at, consumed_at, device_id, grant_id`

type deviceCodeSQL struct {
	insert, get, getForUpdate, getByUserCode, decide, poll, consume string
	// A poll retried within the grace (see ConsumeDeviceCode).
	retry, revokeLiveGrant, usedRefresh string
}

func newDeviceCodeSQL(rb func(string) string, forUpdate string) deviceCodeSQL {
	get := `SELECT ` + deviceCodeColumns + ` FROM device_codes WHERE device_code_hash = ?`
	return deviceCodeSQL{
		insert: rb(`INSERT INTO device_codes (` + deviceCodeColumns + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		get:           rb(get),
		getForUpdate:  rb(get + forUpdate),
		getByUserCode: rb(`SELECT ` + deviceCodeColumns + ` FROM device_codes WHERE user_code = ?`),
		// Only a pending, unexpired code can be decided, and only once: two browsers
		// answering the same user code cannot both win.
		decide: rb(`UPDATE device_codes SET state = ?, user_id = ?, auth_time = ?, amr = ?
			WHERE user_code = ? AND state = ? AND expires_at > ?`),
		poll: rb(`UPDATE device_codes SET last_polled_at = ? WHERE device_code_hash = ?`),
		// Tokens are issued once per approval: of concurrent polls exactly one matches
		// consumed_at IS NULL.
		consume: rb(`UPDATE device_codes SET consumed_at = ?, grant_id = ?
			WHERE device_code_hash = ? AND state = ? AND consumed_at IS NULL AND expires_at > ?`),
		// The code moves from the grant its first use issued to the retry's, only from that
		// grant (of concurrent retries one moves it), only while that grant is live (a device
		// the person signed out stays signed out) and only while none of its refresh tokens
		// was used (a used one reached the device, so the code coming back is no retry).
		retry: rb(`UPDATE device_codes SET grant_id = ?
			WHERE device_code_hash = ? AND state = ? AND consumed_at > ? AND grant_id = ?
			AND EXISTS (SELECT 1 FROM grants g WHERE g.id = device_codes.grant_id AND g.revoked_at IS NULL)
			AND NOT EXISTS (SELECT 1 FROM refresh_tokens r
				WHERE r.grant_id = device_codes.grant_id AND r.used_at IS NOT NULL)`),
		revokeLiveGrant: rb(`UPDATE grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`),
		usedRefresh:     rb(`SELECT COUNT(*) FROM refresh_tokens WHERE grant_id = ? AND used_at IS NOT NULL`),
	}
}

type deviceCodeRow struct {
	DeviceCodeHash string         `db:"device_code_hash"`
	UserCode       string         `db:"user_code"`
	ClientID       string         `db:"client_id"`
	Scopes         string         `db:"scopes"`
	DeviceName     string         `db:"device_name"`
	State          string         `db:"state"`
	UserID         sql.NullString `db:"user_id"`
	AuthTime       sql.NullInt64  `db:"auth_time"`
	AMR            string         `db:"amr"`
	CreatedAt      sql.NullInt64  `db:"created_at"`
	ExpiresAt      sql.NullInt64  `db:"expires_at"`
	LastPolledAt   sql.NullInt64  `db:"last_polled_at"`
	ConsumedAt     sql.NullInt64  `db:"consumed_at"`
	DeviceID       string         `db:"device_id"`
	GrantID        sql.NullString `db:"grant_id"`
}

func (r *deviceCodeRow) deviceCode() (*storage.DeviceCode, error) {
	var ld listDecoder
	dc := &storage.DeviceCode{
		DeviceCodeHash: r.DeviceCodeHash, UserCode: r.UserCode, ClientID: r.ClientID,
		Scopes: ld.list("scopes", r.Scopes), DeviceName: r.DeviceName, State: r.State,
		UserID: r.UserID.String, AuthTime: fromMS(r.AuthTime), AMR: ld.list("amr", r.AMR),
		CreatedAt: fromMS(r.CreatedAt), ExpiresAt: fromMS(r.ExpiresAt),
		LastPolledAt: fromMSPtr(r.LastPolledAt), ConsumedAt: fromMSPtr(r.ConsumedAt), DeviceID: r.DeviceID,
		GrantID: r.GrantID.String,
	}
	if ld.err != nil {
		return nil, ld.err
	}
	return dc, nil
}

func (d *DB) getDeviceCode(ctx context.Context, query, arg string) (*storage.DeviceCode, error) {
	var r deviceCodeRow
	if err := d.get(ctx, &r, query, arg); err != nil {
		return nil, err
	}
	return r.deviceCode()
}

// CreateDeviceCode stores dc. An empty State is set to DevicePending and a zero CreatedAt to
// now (in dc as well). A user code already taken (by a live or not yet collected code) is
// ErrConflict, so the caller draws another one. The client must exist.
func (d *DB) CreateDeviceCode(ctx context.Context, dc *storage.DeviceCode) error {
	if dc.State == "" {
		dc.State = storage.DevicePending
	}
	dc.CreatedAt = orNow(dc.CreatedAt, d.clockNow())
	_, err := d.exec(ctx, d.q.devices.insert,
		dc.DeviceCodeHash, dc.UserCode, dc.ClientID, encodeList(dc.Scopes), dc.DeviceName, dc.State,
		nullIfEmpty(dc.UserID), msOrNull(dc.AuthTime), encodeList(dc.AMR), msOrNull(dc.CreatedAt),
		msOrNull(dc.ExpiresAt), msPtr(dc.LastPolledAt), msPtr(dc.ConsumedAt), dc.DeviceID, nullIfEmpty(dc.GrantID))
	return d.wrap(err, "create device code")
}

// GetDeviceCodeByUserCode returns the code by its normalised user code, whatever its state;
// the caller checks State and ExpiresAt.
func (d *DB) GetDeviceCodeByUserCode(ctx context.Context, userCode string) (*storage.DeviceCode, error) {
	dc, err := d.getDeviceCode(ctx, d.q.devices.getByUserCode, userCode)
	return dc, d.wrap(err, "get device code by user code")
}

// GetDeviceCode returns the code by the hash of its device code, whatever its state.
func (d *DB) GetDeviceCode(ctx context.Context, deviceCodeHash string) (*storage.DeviceCode, error) {
	dc, err := d.getDeviceCode(ctx, d.q.devices.get, deviceCodeHash)
	return dc, d.wrap(err, "get device code")
}

// DecideDeviceCode records the person's answer (state DeviceApproved or DeviceDenied) with
// who answered and how they signed in. Only a pending code unexpired at now matches, so a
// code is decided once; anything else is ErrNotFound.
func (d *DB) DecideDeviceCode(ctx context.Context, userCode, state, userID string, authTime time.Time, amr []string, now time.Time) error {
	if state != storage.DeviceApproved && state != storage.DeviceDenied {
		return fmt.Errorf("decide device code: state %q is neither approved nor denied", state)
	}
	err := one(d.exec(ctx, d.q.devices.decide, state, nullIfEmpty(userID), msOrNull(authTime),
		encodeList(amr), userCode, storage.DevicePending, now.UnixMilli()))
	return d.wrap(err, "decide device code")
}

// PollDeviceCode records a poll at now and returns the code (with LastPolledAt = now)
// together with the poll time it replaced (nil on the first poll), so the token endpoint can
// answer slow_down to a device polling too fast. The row is locked between the read and the
// write, so two concurrent polls each see the other's time, never the same previous one.
func (d *DB) PollDeviceCode(ctx context.Context, deviceCodeHash string, now time.Time) (*storage.DeviceCode, *time.Time, error) {
	var (
		out  *storage.DeviceCode
		prev *time.Time
	)
	err := d.inTx(ctx, func(tx *DB) error {
		dc, err := tx.getDeviceCode(ctx, tx.q.devices.getForUpdate, deviceCodeHash)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, tx.q.devices.poll, now.UnixMilli(), deviceCodeHash); err != nil {
			return err
		}
		prev, dc.LastPolledAt = dc.LastPolledAt, ptrTo(now.Truncate(time.Millisecond).UTC())
		out = dc
		return nil
	})
	if err != nil {
		return nil, nil, d.wrap(err, "poll device code")
	}
	return out, prev, nil
}

// ConsumeDeviceCode marks an approved, unexpired code consumed by grant grantID and returns
// it; the UPDATE decides, so tokens are issued once however many polls race. Afterwards the
// code comes back with ErrAlreadyUsed. An expired code is ErrExpired; an unknown, pending or
// denied one is ErrNotFound (the caller learns the state from PollDeviceCode first).
//
// The exception is a retry within grace of the first use: a device that lost the token
// answer (a dropped connection, a crash after the commit) polls again with the only code it
// has. As long as the grant the first use issued is live and none of its refresh tokens was
// used, that grant is revoked (its tokens never reached the device, and only hashes are kept,
// so they cannot be handed out again), grantID takes its place, and replaced names it. The
// window runs from the first use, so retries cannot stretch it. Called inside InTx, an error
// leaves writes of this call that the caller's rollback undoes.
func (d *DB) ConsumeDeviceCode(ctx context.Context, deviceCodeHash, grantID string, now time.Time, grace time.Duration) (*storage.DeviceCode, string, error) {
	var (
		out      *storage.DeviceCode
		replaced string
	)
	err := d.inTx(ctx, func(tx *DB) error {
		out, replaced = nil, "" // a retried transaction starts over
		ms := now.UnixMilli()
		n, err := tx.exec(ctx, tx.q.devices.consume, ms, grantID, deviceCodeHash, storage.DeviceApproved, ms)
		if err != nil {
			return err
		}
		dc, err := tx.getDeviceCode(ctx, tx.q.devices.get, deviceCodeHash)
		if err != nil {
			return err
		}
		switch {
		case n == 1:
			out = dc
			return nil
		case dc.ConsumedAt != nil:
			out = dc
			if grace <= 0 || dc.GrantID == "" || dc.GrantID == grantID {
				return storage.ErrAlreadyUsed
			}
			old := dc.GrantID
			ok, err := tx.retryDevice(ctx, deviceCodeHash, old, grantID, now, grace)
			if err != nil {
				return err // ours: never answered as a used code
			}
			if !ok {
				return storage.ErrAlreadyUsed
			}
			dc.GrantID, replaced = grantID, old
			return nil
		case !dc.ExpiresAt.After(now):
			return storage.ErrExpired
		default:
			return fmt.Errorf("device code is %s, not approved: %w", dc.State, storage.ErrNotFound)
		}
	})
	if err != nil && !errors.Is(err, storage.ErrAlreadyUsed) {
		out = nil
	}
	if err != nil {
		replaced = ""
	}
	return out, replaced, d.wrap(err, "consume device code")
}

// retryDevice moves the consumed code from grant old to grant next and revokes old with its
// tokens, reporting whether the retry is allowed (see ConsumeDeviceCode).
func (d *DB) retryDevice(ctx context.Context, hash, old, next string, now time.Time, grace time.Duration) (bool, error) {
	ms := now.UnixMilli()
	n, err := d.exec(ctx, d.q.devices.retry, next, hash, storage.DeviceApproved, now.Add(-grace).UnixMilli(), old)
	if err != nil || n == 0 {
		return false, err
	}
	// The grant first, then its tokens, as every revocation does: on PostgreSQL a concurrent
	// refresh in that grant holds the grant's row until it commits, and the count below then
	// sees its token used.
	if n, err = d.exec(ctx, d.q.devices.revokeLiveGrant, ms, old); err != nil || n == 0 {
		return false, err
	}
	if _, err := d.exec(ctx, d.q.tokens.revokeGrantRefresh, ms, old); err != nil {
		return false, err
	}
	if _, err := d.exec(ctx, d.q.tokens.revokeGrantAccess, ms, old); err != nil {
		return false, err
	}
	var used int
	if err := d.get(ctx, &used, d.q.devices.usedRefresh, old); err != nil {
		return false, err
	}
	return used == 0, nil
}

func ptrTo[T any](v T) *T { return &v }
