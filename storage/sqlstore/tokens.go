package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/myaccount/myaccount/storage"
)

const (
	grantColumns = `id, user_id, client_id, scopes, audience, auth_time, amr, acr, session_id,
	device_name, user_agent, ip, created_at, last_used_at, revoked_at, device_id, access_expires_at`
	accessTokenColumns = `id_hash, grant_id, client_id, subject, scopes, audience, created_at,
	expires_at, revoked_at, dpop_jkt`
	refreshTokenColumns = `id, hash, grant_id, parent_id, client_id, user_id, scopes, created_at,
	expires_at, used_at, revoked_at, dpop_jkt`
)

type tokenSQL struct {
	insertGrant, getGrant, listGrants, revokeGrant string
	// Revoking a family: the grant's tokens, or every grant of a user (and client).
	revokeGrantRefresh, revokeGrantAccess                                   string
	revokeUserGrants, revokeUserRefresh, revokeUserAccess                   string
	revokeUserClientGrants, revokeUserClientRefresh, revokeUserClientAccess string

	insertAccess, getAccess, revokeAccess string
	// The denylist of revoked stateless access tokens (see denylist.go).
	insertDenied, getDenied string

	insertRefresh, getRefresh, rotateRefresh, revokeRefresh string
	// A refresh token with its grant and the grant's user, in one read (GetRefreshTokenGrant).
	getRefreshGrant string
	// The retry grace of a rotation (see RotateRefreshToken).
	lockGrantOf, graceLock, retireSuccessors, usedSuccessors string
}

func newTokenSQL(rb func(string) string) tokenSQL {
	const (
		ofUser       = `SELECT id FROM grants WHERE user_id = ?`
		ofUserClient = `SELECT id FROM grants WHERE user_id = ? AND client_id = ?`
	)
	return tokenSQL{
		insertGrant: rb(`INSERT INTO grants (` + grantColumns + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		getGrant:   rb(`SELECT ` + grantColumns + ` FROM grants WHERE id = ?`),
		listGrants: rb(`SELECT ` + grantColumns + ` FROM grants WHERE user_id = ? ORDER BY created_at DESC, id`),
		// COALESCE keeps the first revocation time and still matches the row, so revoking
		// twice is not mistaken for an unknown id.
		revokeGrant:        rb(`UPDATE grants SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`),
		revokeGrantRefresh: rb(`UPDATE refresh_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL`),
		revokeGrantAccess:  rb(`UPDATE access_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL`),

		revokeUserGrants: rb(`UPDATE grants SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`),
		revokeUserRefresh: rb(`UPDATE refresh_tokens SET revoked_at = ?
			WHERE revoked_at IS NULL AND grant_id IN (` + ofUser + `)`),
		revokeUserAccess: rb(`UPDATE access_tokens SET revoked_at = ?
			WHERE revoked_at IS NULL AND grant_id IN (` + ofUser + `)`),
		revokeUserClientGrants: rb(`UPDATE grants SET revoked_at = ?
			WHERE user_id = ? AND client_id = ? AND revoked_at IS NULL`),
		revokeUserClientRefresh: rb(`UPDATE refresh_tokens SET revoked_at = ?
			WHERE revoked_at IS NULL AND grant_id IN (` + ofUserClient + `)`),
		revokeUserClientAccess: rb(`UPDATE access_tokens SET revoked_at = ?
			WHERE revoked_at IS NULL AND grant_id IN (` + ofUserClient + `)`),

		insertAccess: rb(`INSERT INTO access_tokens (` + accessTokenColumns + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		getAccess:    rb(`SELECT ` + accessTokenColumns + ` FROM access_tokens WHERE id_hash = ?`),
		revokeAccess: rb(`UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id_hash = ?`),
		// A second revocation of the same token keeps the first entry.
		insertDenied: rb(`INSERT INTO revoked_access_tokens (id_hash, client_id, expires_at, revoked_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (id_hash) DO NOTHING`),
		getDenied: rb(`SELECT 1 FROM revoked_access_tokens WHERE id_hash = ?`),

		insertRefresh: rb(`INSERT INTO refresh_tokens (` + refreshTokenColumns + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		getRefresh: rb(`SELECT ` + refreshTokenColumns + ` FROM refresh_tokens WHERE hash = ?`),
		getRefreshGrant: rb(`SELECT ` + qualified("t", refreshTokenColumns) + `, ` + qualified("g", grantColumns) +
			`, ` + qualified("u", userColumns) + ` FROM refresh_tokens t JOIN grants g ON g.id = t.grant_id
			JOIN users u ON u.id = g.user_id WHERE t.hash = ?`),
		// Single use is decided by this one statement: of concurrent rotations exactly one
		// matches used_at IS NULL. A token of a revoked grant never matches.
		// RETURNING hands back what storing the successor needs, saving a read of the row.
		rotateRefresh: rb(`UPDATE refresh_tokens SET used_at = ?
			WHERE hash = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?
			AND EXISTS (SELECT 1 FROM grants g WHERE g.id = refresh_tokens.grant_id AND g.revoked_at IS NULL)
			RETURNING id, grant_id`),
		revokeRefresh: rb(`UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE hash = ?`),
		// Locks a token's grant row, and records its use on the way (the statement that
		// took the lock did it before, as a second UPDATE of the same row). A rotation takes
		// it first, so that everything writing a family's rows (rotations, retries,
		// RevokeGrant, RevokeUserClientGrants) locks the grant before its tokens: one lock
		// order, no deadlocks on PostgreSQL. A refused rotation rolls the use back, except reuse, whose revocation
		// commits: the grant then shows when its leaked token came back.
		// It also records the expiry of the row-less access token issued with the rotation
		// (NULL: none), never moving it earlier.
		lockGrantOf: rb(`UPDATE grants SET last_used_at = ?,
			access_expires_at = CASE WHEN access_expires_at IS NULL OR access_expires_at < ? THEN ? ELSE access_expires_at END
			WHERE id = (SELECT grant_id FROM refresh_tokens WHERE hash = ?)`),
		// Decides that a used token may be retried, and locks its row (an UPDATE that changes
		// nothing still takes the row lock on PostgreSQL), so that concurrent retries of one
		// token serialise: each then sees the successors the others stored.
		graceLock: rb(`UPDATE refresh_tokens SET used_at = used_at
			WHERE hash = ? AND used_at > ? AND revoked_at IS NULL AND client_id = ? AND expires_at > ?
			AND EXISTS (SELECT 1 FROM grants g WHERE g.id = refresh_tokens.grant_id AND g.revoked_at IS NULL)`),
		// Retired successors are marked used as well as revoked: they never reached the client,
		// so presenting one later is reuse, and a used-and-revoked token is never retried.
		retireSuccessors: rb(`UPDATE refresh_tokens SET used_at = ?, revoked_at = ?
			WHERE grant_id = ? AND parent_id = ? AND used_at IS NULL AND revoked_at IS NULL`),
		usedSuccessors: rb(`SELECT COUNT(*) FROM refresh_tokens
			WHERE grant_id = ? AND parent_id = ? AND used_at IS NOT NULL AND revoked_at IS NULL`),
	}
}

// grantRow is the grants table's shape.
type grantRow struct {
	ID         string         `db:"id"`
	UserID     sql.NullString `db:"user_id"`
	ClientID   string         `db:"client_id"`
	Scopes     string         `db:"scopes"`
	Audience   string         `db:"audience"`
	AuthTime   sql.NullInt64  `db:"auth_time"`
	AMR        string         `db:"amr"`
	ACR        string         `db:"acr"`
	SessionID  string         `db:"session_id"`
	DeviceName string         `db:"device_name"`
	UserAgent  string         `db:"user_agent"`
	IP         string         `db:"ip"`
	CreatedAt  sql.NullInt64  `db:"created_at"`
	LastUsedAt sql.NullInt64  `db:"last_used_at"`
	RevokedAt  sql.NullInt64  `db:"revoked_at"`
	DeviceID   string         `db:"device_id"`
	AccessExp  sql.NullInt64  `db:"access_expires_at"`
}

func (r *grantRow) grant() (*storage.Grant, error) {
	var ld listDecoder
	g := &storage.Grant{
		ID: r.ID, UserID: r.UserID.String, ClientID: r.ClientID,
		Scopes:   ld.list("scopes", r.Scopes),
		Audience: ld.list("audience", r.Audience),
		AuthTime: fromMS(r.AuthTime),
		AMR:      ld.list("amr", r.AMR),
		ACR:      r.ACR, SessionID: r.SessionID, DeviceName: r.DeviceName, UserAgent: r.UserAgent, IP: r.IP,
		CreatedAt: fromMS(r.CreatedAt), LastUsedAt: fromMS(r.LastUsedAt), RevokedAt: fromMSPtr(r.RevokedAt),
		DeviceID: r.DeviceID, AccessExpiresAt: fromMS(r.AccessExp),
	}
	if ld.err != nil {
		return nil, ld.err
	}
	return g, nil
}

// accessTokenRow is the access_tokens table's shape.
type accessTokenRow struct {
	IDHash    string         `db:"id_hash"`
	GrantID   sql.NullString `db:"grant_id"`
	ClientID  string         `db:"client_id"`
	Subject   string         `db:"subject"`
	Scopes    string         `db:"scopes"`
	Audience  string         `db:"audience"`
	CreatedAt sql.NullInt64  `db:"created_at"`
	ExpiresAt sql.NullInt64  `db:"expires_at"`
	RevokedAt sql.NullInt64  `db:"revoked_at"`
	DPoPJKT   string         `db:"dpop_jkt"`
}

// refreshTokenRow is the refresh_tokens table's shape.
type refreshTokenRow struct {
	ID        string        `db:"id"`
	Hash      string        `db:"hash"`
	GrantID   string        `db:"grant_id"`
	ParentID  string        `db:"parent_id"`
	ClientID  string        `db:"client_id"`
	UserID    string        `db:"user_id"`
	Scopes    string        `db:"scopes"`
	CreatedAt sql.NullInt64 `db:"created_at"`
	ExpiresAt sql.NullInt64 `db:"expires_at"`
	UsedAt    sql.NullInt64 `db:"used_at"`
	RevokedAt sql.NullInt64 `db:"revoked_at"`
	DPoPJKT   string        `db:"dpop_jkt"`
}

// CreateGrant inserts g. A zero CreatedAt is set to now and a zero LastUsedAt to CreatedAt,
// in g as well. The client (and the user, unless UserID is empty) must exist.
func (d *DB) CreateGrant(ctx context.Context, g *storage.Grant) error {
	g.CreatedAt = orNow(g.CreatedAt, d.clockNow())
	g.LastUsedAt = orNow(g.LastUsedAt, g.CreatedAt)
	_, err := d.exec(ctx, d.q.tokens.insertGrant,
		g.ID, nullIfEmpty(g.UserID), g.ClientID, encodeList(g.Scopes), encodeList(g.Audience),
		msOrNull(g.AuthTime), encodeList(g.AMR), g.ACR, g.SessionID, g.DeviceName, g.UserAgent,
		g.IP, msOrNull(g.CreatedAt), msOrNull(g.LastUsedAt), msPtr(g.RevokedAt), g.DeviceID,
		msOrNull(g.AccessExpiresAt))
	return d.wrap(err, "create grant %q", g.ID)
}

// GetGrant returns the grant by id whatever its state.
func (d *DB) GetGrant(ctx context.Context, id string) (*storage.Grant, error) {
	g, err := d.getGrant(ctx, id)
	return g, d.wrap(err, "get grant %q", id)
}

func (d *DB) getGrant(ctx context.Context, id string) (*storage.Grant, error) {
	var r grantRow
	if err := d.get(ctx, &r, d.q.tokens.getGrant, id); err != nil {
		return nil, err
	}
	return r.grant()
}

// ListGrants returns all of the user's grants still stored, revoked ones included (the
// caller filters), newest first.
func (d *DB) ListGrants(ctx context.Context, userID string) ([]*storage.Grant, error) {
	var rows []grantRow
	if err := d.sel(ctx, &rows, d.q.tokens.listGrants, userID); err != nil {
		return nil, d.wrap(err, "list grants of %q", userID)
	}
	out := make([]*storage.Grant, len(rows))
	for i := range rows {
		g, err := rows[i].grant()
		if err != nil {
			return nil, d.wrap(err, "list grants of %q", userID)
		}
		out[i] = g
	}
	return out, nil
}

// RevokeGrant revokes the grant and every refresh and access token in it, in one
// transaction. Revoking again keeps the first revocation time.
func (d *DB) RevokeGrant(ctx context.Context, id string, now time.Time) error {
	err := d.inTx(ctx, func(tx *DB) error { return tx.revokeGrant(ctx, id, now) })
	return d.wrap(err, "revoke grant %q", id)
}

// revokeGrant is RevokeGrant's body; the caller provides the transaction.
func (d *DB) revokeGrant(ctx context.Context, id string, now time.Time) error {
	ms := now.UnixMilli()
	if err := one(d.exec(ctx, d.q.tokens.revokeGrant, ms, id)); err != nil {
		return err
	}
	if _, err := d.exec(ctx, d.q.tokens.revokeGrantRefresh, ms, id); err != nil {
		return err
	}
	_, err := d.exec(ctx, d.q.tokens.revokeGrantAccess, ms, id)
	return d.durable(ctx, err) // a reused refresh token's revocation too (RotateRefreshToken)
}

// RevokeUserClientGrants revokes every grant of the user for the client (all clients when
// clientID is empty) and every token in them, in one transaction. The grants go first: a
// rotation locks its grant before its tokens, and the opposite order could deadlock with it
// on PostgreSQL (retried, after deadlock_timeout).
func (d *DB) RevokeUserClientGrants(ctx context.Context, userID, clientID string, now time.Time) error {
	q := &d.q.tokens
	stmts, args := []string{q.revokeUserGrants, q.revokeUserRefresh, q.revokeUserAccess}, []any{now.UnixMilli(), userID}
	if clientID != "" {
		stmts = []string{q.revokeUserClientGrants, q.revokeUserClientRefresh, q.revokeUserClientAccess}
		args = append(args, clientID)
	}
	err := d.inTx(ctx, func(tx *DB) error {
		for _, s := range stmts {
			if _, err := tx.exec(ctx, s, args...); err != nil {
				return err
			}
		}
		return nil
	})
	return d.wrap(d.durable(ctx, err), "revoke grants of user %q client %q", userID, clientID)
}

// CreateAccessToken records an issued access token. A zero CreatedAt is set to now (in t as
// well). An empty GrantID is a standalone token.
func (d *DB) CreateAccessToken(ctx context.Context, t *storage.AccessToken) error {
	t.CreatedAt = orNow(t.CreatedAt, d.clockNow())
	_, err := d.exec(ctx, d.q.tokens.insertAccess,
		t.IDHash, nullIfEmpty(t.GrantID), t.ClientID, t.Subject, encodeList(t.Scopes),
		encodeList(t.Audience), msOrNull(t.CreatedAt), msOrNull(t.ExpiresAt), msPtr(t.RevokedAt), t.DPoPJKT)
	return d.wrap(err, "create access token")
}

// GetAccessToken returns the token by id hash whatever its state; the caller checks
// RevokedAt and ExpiresAt.
func (d *DB) GetAccessToken(ctx context.Context, idHash string) (*storage.AccessToken, error) {
	var r accessTokenRow
	if err := d.get(ctx, &r, d.q.tokens.getAccess, idHash); err != nil {
		return nil, d.wrap(err, "get access token")
	}
	var ld listDecoder
	t := &storage.AccessToken{
		IDHash: r.IDHash, GrantID: r.GrantID.String, ClientID: r.ClientID, Subject: r.Subject,
		Scopes: ld.list("scopes", r.Scopes), Audience: ld.list("audience", r.Audience),
		CreatedAt: fromMS(r.CreatedAt), ExpiresAt: fromMS(r.ExpiresAt), RevokedAt: fromMSPtr(r.RevokedAt),
		DPoPJKT: r.DPoPJKT,
	}
	if ld.err != nil {
		return nil, d.wrap(ld.err, "get access token")
	}
	return t, nil
}

// RevokeAccessToken revokes one access token; revoking again keeps the first time.
func (d *DB) RevokeAccessToken(ctx context.Context, idHash string, now time.Time) error {
	return d.wrap(d.durable(ctx, one(d.exec(ctx, d.q.tokens.revokeAccess, now.UnixMilli(), idHash))), "revoke access token")
}

// CreateRefreshToken inserts t. A zero CreatedAt is set to now (in t as well). The grant
// must exist; a duplicate id or hash is ErrConflict.
func (d *DB) CreateRefreshToken(ctx context.Context, t *storage.RefreshToken) error {
	t.CreatedAt = orNow(t.CreatedAt, d.clockNow())
	return d.wrap(d.insertRefreshToken(ctx, t), "create refresh token %q", t.ID)
}

func (d *DB) insertRefreshToken(ctx context.Context, t *storage.RefreshToken) error {
	_, err := d.exec(ctx, d.q.tokens.insertRefresh,
		t.ID, t.Hash, t.GrantID, t.ParentID, t.ClientID, t.UserID, encodeList(t.Scopes),
		msOrNull(t.CreatedAt), msOrNull(t.ExpiresAt), msPtr(t.UsedAt), msPtr(t.RevokedAt), t.DPoPJKT)
	return err
}

// GetRefreshToken returns the token by hash whatever its state.
func (d *DB) GetRefreshToken(ctx context.Context, hash string) (*storage.RefreshToken, error) {
	t, err := d.getRefreshToken(ctx, hash)
	return t, d.wrap(err, "get refresh token")
}

func (d *DB) getRefreshToken(ctx context.Context, hash string) (*storage.RefreshToken, error) {
	var r refreshTokenRow
	if err := d.get(ctx, &r, d.q.tokens.getRefresh, hash); err != nil {
		return nil, err
	}
	return r.token()
}

func (r *refreshTokenRow) token() (*storage.RefreshToken, error) {
	scopes, err := decodeList("scopes", r.Scopes)
	if err != nil {
		return nil, err
	}
	return &storage.RefreshToken{
		ID: r.ID, Hash: r.Hash, GrantID: r.GrantID, ParentID: r.ParentID, ClientID: r.ClientID,
		UserID: r.UserID, Scopes: scopes, CreatedAt: fromMS(r.CreatedAt), ExpiresAt: fromMS(r.ExpiresAt),
		UsedAt: fromMSPtr(r.UsedAt), RevokedAt: fromMSPtr(r.RevokedAt), DPoPJKT: r.DPoPJKT,
	}, nil
}

// GetRefreshTokenGrant returns the token by hash whatever its state, with its grant and the
// grant's user, in one read: a refresh needs all three, and three reads were a fifth of its
// CPU (docs/sizing-journal.md). A token whose grant has no user is ErrNotFound, as one without a
// grant.
func (d *DB) GetRefreshTokenGrant(ctx context.Context, hash string) (*storage.RefreshToken, *storage.Grant, *storage.User, error) {
	var r struct {
		T refreshTokenRow `db:"t"`
		G grantRow        `db:"g"`
		U userRow         `db:"u"`
	}
	err := d.get(ctx, &r, d.q.tokens.getRefreshGrant, hash)
	var t *storage.RefreshToken
	var g *storage.Grant
	if err == nil {
		t, err = r.T.token()
	}
	if err == nil {
		g, err = r.G.grant()
	}
	if err != nil {
		return nil, nil, nil, d.wrap(err, "get refresh token and grant")
	}
	return t, g, r.U.user(), nil
}

// qualified turns the column list of the table aliased a into a.col AS "a.col", ...: the
// names sqlx gives the fields of a struct field tagged a, so that rows of several tables
// whose columns share names scan into one struct.
func qualified(a, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		c = strings.TrimSpace(c)
		cols[i] = a + "." + c + ` AS "` + a + "." + c + `"`
	}
	return strings.Join(cols, ", ")
}

// RotateRefreshToken marks the token with oldHash used, stores next and touches the grant,
// in one transaction. next.GrantID defaults to the old token's grant (another grant is an
// error), next.ParentID to the old token's id and a zero next.CreatedAt to now; next is
// updated in place.
//
// The rotate UPDATE decides single use; only when it matched nothing is the row read to say
// why. A token already used means it leaked (the legitimate client only ever holds the
// newest one), so the whole grant is revoked (RFC 9700 section 4.14.2) and ErrAlreadyUsed
// returned; that revocation is committed even though an error is returned. Called inside
// InTx, the revocation joins the caller's transaction and survives only if the caller
// commits.
//
// The exception is a retry within grace (a client that lost the response of its last
// refresh): the old token is locked, its unused successors are retired and next becomes its
// successor. We store only hashes, so the successor already issued cannot be handed out
// again: the retry gets a fresh one. If a successor was used in the meantime, it reached
// its holder, and the retry is reuse after all.
func (d *DB) RotateRefreshToken(ctx context.Context, oldHash string, next *storage.RefreshToken, now time.Time, grace storage.RefreshGrace) error {
	reused := false
	err := d.inTx(ctx, func(tx *DB) error {
		reused = false // a retried transaction starts over
		ms := now.UnixMilli()
		accessExp := msOrNull(next.GrantAccessExpiresAt)
		if _, err := tx.exec(ctx, tx.q.tokens.lockGrantOf, ms, accessExp, accessExp, oldHash); err != nil {
			return err
		}
		var rotated struct {
			ID      string `db:"id"`
			GrantID string `db:"grant_id"`
		}
		switch err := tx.get(ctx, &rotated, tx.q.tokens.rotateRefresh, ms, oldHash, ms); {
		case err == nil:
			// The common case: the token was live and is now used; its id and grant are all
			// storing the successor needs.
			return tx.storeRotated(ctx, &storage.RefreshToken{ID: rotated.ID, GrantID: rotated.GrantID}, next, now)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		// Nothing matched: read the row to say why (or to allow a retry within the grace).
		var n int64
		old, err := tx.getRefreshToken(ctx, oldHash)
		if err != nil {
			return err
		}
		if old.UsedAt != nil && grace.Window > 0 && grace.ClientID != "" {
			n, err = tx.exec(ctx, tx.q.tokens.graceLock, oldHash, now.Add(-grace.Window).UnixMilli(), grace.ClientID, ms)
			if err != nil {
				return err
			}
			if n == 1 {
				ok, err := tx.retireSuccessors(ctx, old, now)
				if err != nil {
					return err
				}
				if !ok {
					n = 0 // a successor was used: this is reuse after all
				}
			}
		}
		if n == 1 {
			return tx.storeRotated(ctx, old, next, now)
		}
		switch {
		case old.UsedAt != nil:
			reused = true
			return tx.revokeGrant(ctx, old.GrantID, now)
		case old.RevokedAt != nil:
			return storage.ErrRevoked
		case !old.ExpiresAt.After(now):
			return storage.ErrExpired
		default: // the token is live, so its grant must be revoked
			return storage.ErrRevoked
		}
	})
	if err == nil && reused {
		err = storage.ErrAlreadyUsed
	}
	return d.wrap(err, "rotate refresh token")
}

// retireSuccessors retires the never-used successors of the (locked) token old and reports
// whether none of them was used, i.e. whether the retry may have a new successor.
func (d *DB) retireSuccessors(ctx context.Context, old *storage.RefreshToken, now time.Time) (bool, error) {
	ms := now.UnixMilli()
	// Retire first, then count: on PostgreSQL the UPDATE waits for a concurrent rotation of a
	// successor to finish, so the count below sees that successor used.
	if _, err := d.exec(ctx, d.q.tokens.retireSuccessors, ms, ms, old.GrantID, old.ID); err != nil {
		return false, err
	}
	var used int
	if err := d.get(ctx, &used, d.q.tokens.usedSuccessors, old.GrantID, old.ID); err != nil {
		return false, err
	}
	return used == 0, nil
}

// storeRotated inserts next after old was marked used (the grant's use was recorded when
// it was locked).
func (d *DB) storeRotated(ctx context.Context, old, next *storage.RefreshToken, now time.Time) error {
	switch next.GrantID {
	case "":
		next.GrantID = old.GrantID
	case old.GrantID:
	default:
		return fmt.Errorf("next token is for grant %q, the old one for %q", next.GrantID, old.GrantID)
	}
	if next.ParentID == "" {
		next.ParentID = old.ID
	}
	next.CreatedAt = orNow(next.CreatedAt, now)
	return d.insertRefreshToken(ctx, next)
}

// RevokeRefreshToken revokes one refresh token (not its grant: use RevokeGrant for that);
// revoking again keeps the first time.
func (d *DB) RevokeRefreshToken(ctx context.Context, hash string, now time.Time) error {
	return d.wrap(d.durable(ctx, one(d.exec(ctx, d.q.tokens.revokeRefresh, now.UnixMilli(), hash))), "revoke refresh token")
}
