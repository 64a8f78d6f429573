package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/myaccount/myaccount/storage"
)

const (
	mfaColumns = `id, user_id, kind, name, credential_id, secret, sign_count, last_step, flagged,
	created_at, last_used_at`
	trustedBrowserColumns = `token_hash, user_id, user_agent, created_at, expires_at`
)

type mfaSQL struct {
	insert, list, getByCredentialID, getForUpdate, update, acceptStep, exists, delete string

	deleteRecovery, insertRecovery, useRecovery, countRecovery string

	insertBrowser, getBrowser, deleteBrowsers string
}

func newMFASQL(rb func(string) string, forUpdate string) mfaSQL {
	return mfaSQL{
		insert: rb(`INSERT INTO mfa_credentials (` + mfaColumns + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		list:              rb(`SELECT ` + mfaColumns + ` FROM mfa_credentials WHERE user_id = ? ORDER BY created_at, id`),
		getByCredentialID: rb(`SELECT ` + mfaColumns + ` FROM mfa_credentials WHERE credential_id = ?`),
		getForUpdate:      rb(`SELECT ` + mfaColumns + ` FROM mfa_credentials WHERE id = ?` + forUpdate),
		update: rb(`UPDATE mfa_credentials SET kind = ?, name = ?, credential_id = ?, secret = ?,
			sign_count = ?, last_step = ?, flagged = ?, created_at = ?, last_used_at = ? WHERE id = ?`),
		// The comparison in the WHERE clause is the replay check: of two sign-ins presenting
		// the same code at once, only one moves last_step forward.
		acceptStep: rb(`UPDATE mfa_credentials SET last_step = ?, last_used_at = ? WHERE id = ? AND last_step < ?`),
		exists:     rb(`SELECT COUNT(*) FROM mfa_credentials WHERE id = ?`),
		delete:     rb(`DELETE FROM mfa_credentials WHERE id = ? AND user_id = ?`),

		deleteRecovery: rb(`DELETE FROM recovery_codes WHERE user_id = ?`),
		insertRecovery: rb(`INSERT INTO recovery_codes (user_id, hash, used_at) VALUES (?, ?, NULL)`),
		useRecovery:    rb(`UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND hash = ? AND used_at IS NULL`),
		countRecovery:  rb(`SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`),

		insertBrowser: rb(`INSERT INTO trusted_browsers (` + trustedBrowserColumns + `) VALUES (?, ?, ?, ?, ?)`),
		getBrowser: rb(`SELECT ` + trustedBrowserColumns + ` FROM trusted_browsers
			WHERE token_hash = ? AND user_id = ? AND expires_at > ?`),
		deleteBrowsers: rb(`DELETE FROM trusted_browsers WHERE user_id = ?`),
	}
}

type mfaRow struct {
	ID           string        `db:"id"`
	UserID       string        `db:"user_id"`
	Kind         string        `db:"kind"`
	Name         string        `db:"name"`
	CredentialID []byte        `db:"credential_id"`
	Secret       []byte        `db:"secret"`
	SignCount    int64         `db:"sign_count"`
	LastStep     int64         `db:"last_step"`
	Flagged      bool          `db:"flagged"`
	CreatedAt    sql.NullInt64 `db:"created_at"`
	LastUsedAt   sql.NullInt64 `db:"last_used_at"`
}

func (r *mfaRow) credential() *storage.MFACredential {
	return &storage.MFACredential{
		ID: r.ID, UserID: r.UserID, Kind: r.Kind, Name: r.Name,
		CredentialID: nilIfEmpty(r.CredentialID), Secret: nilIfEmpty(r.Secret),
		SignCount: uint32(r.SignCount), LastStep: r.LastStep, Flagged: r.Flagged,
		CreatedAt: fromMS(r.CreatedAt), LastUsedAt: fromMSPtr(r.LastUsedAt),
	}
}

// mfaValues lists the mutable columns in the order insert (after id and user_id) and update
// use.
func mfaValues(c *storage.MFACredential) []any {
	return []any{c.Kind, c.Name, blobOrNull(c.CredentialID), nonNilBlob(c.Secret), int64(c.SignCount),
		c.LastStep, c.Flagged, msOrNull(c.CreatedAt), msPtr(c.LastUsedAt)}
}

// blobOrNull stores an empty optional blob as NULL: credential_id is UNIQUE, and only NULL
// (not a zero-length blob) may repeat, as it does for every TOTP credential.
func blobOrNull(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// nonNilBlob stores nil as a zero-length blob for NOT NULL columns.
func nonNilBlob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// nilIfEmpty reads an empty blob back as nil, so callers need not tell the two apart.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// CreateMFACredential stores c. A zero CreatedAt is set to now (in c as well). A duplicate
// id or WebAuthn credential id is ErrConflict.
func (d *DB) CreateMFACredential(ctx context.Context, c *storage.MFACredential) error {
	c.CreatedAt = orNow(c.CreatedAt, d.clockNow())
	_, err := d.exec(ctx, d.q.mfa.insert, append([]any{c.ID, c.UserID}, mfaValues(c)...)...)
	return d.wrap(err, "create mfa credential %q", c.ID)
}

// ListMFACredentials returns the user's credentials, oldest first.
func (d *DB) ListMFACredentials(ctx context.Context, userID string) ([]*storage.MFACredential, error) {
	var rows []mfaRow
	if err := d.sel(ctx, &rows, d.q.mfa.list, userID); err != nil {
		return nil, d.wrap(err, "list mfa credentials of %q", userID)
	}
	out := make([]*storage.MFACredential, len(rows))
	for i := range rows {
		out[i] = rows[i].credential()
	}
	return out, nil
}

// GetMFACredentialByCredentialID finds a WebAuthn credential by the id the authenticator
// presents; an empty id matches nothing (TOTP rows have NULL there).
func (d *DB) GetMFACredentialByCredentialID(ctx context.Context, credentialID []byte) (*storage.MFACredential, error) {
	var r mfaRow
	if err := d.get(ctx, &r, d.q.mfa.getByCredentialID, blobOrNull(credentialID)); err != nil {
		return nil, d.wrap(err, "get mfa credential by credential id")
	}
	return r.credential(), nil
}

// UpdateMFACredential loads the credential, lets fn change it and stores it, in one
// transaction (the row locked on PostgreSQL), so a sign-count update cannot be lost to a
// concurrent one. fn's error aborts without writing. ID and UserID cannot change.
func (d *DB) UpdateMFACredential(ctx context.Context, id string, fn func(*storage.MFACredential) error) (*storage.MFACredential, error) {
	var out *storage.MFACredential
	err := d.inTx(ctx, func(tx *DB) error {
		var r mfaRow
		if err := tx.get(ctx, &r, tx.q.mfa.getForUpdate, id); err != nil {
			return err
		}
		c := r.credential()
		if err := fn(c); err != nil {
			return err
		}
		c.ID, c.UserID = r.ID, r.UserID
		if _, err := tx.exec(ctx, tx.q.mfa.update, append(mfaValues(c), id)...); err != nil {
			return err
		}
		out = c
		return nil
	})
	if err := d.durable(ctx, err); err != nil {
		return nil, d.wrap(err, "update mfa credential %q", id)
	}
	return out, nil
}

// AcceptTOTPStep records step as the credential's last accepted TOTP step, and its use at
// now, only if step is greater than the one stored; it reports whether it did. false means
// this or a later code was already accepted: a replay. The decision is the UPDATE's WHERE
// clause, so it holds across concurrent requests and instances. An unknown credential is
// ErrNotFound.
func (d *DB) AcceptTOTPStep(ctx context.Context, id string, step int64, now time.Time) (bool, error) {
	n, err := d.exec(ctx, d.q.mfa.acceptStep, step, now.UnixMilli(), id, step)
	if err != nil {
		return false, d.wrap(err, "accept totp step for %q", id)
	}
	if n == 1 {
		return true, nil
	}
	var exists int
	if err := d.get(ctx, &exists, d.q.mfa.exists, id); err != nil {
		return false, d.wrap(err, "accept totp step for %q", id)
	}
	if exists == 0 {
		return false, d.wrap(storage.ErrNotFound, "accept totp step for %q", id)
	}
	return false, nil
}

// DeleteMFACredential removes the user's credential; ErrNotFound when the user has no such
// credential (the user id guards against deleting someone else's by id).
func (d *DB) DeleteMFACredential(ctx context.Context, userID, id string) error {
	return d.wrap(d.durable(ctx, one(d.exec(ctx, d.q.mfa.delete, id, userID))), "delete mfa credential %q", id)
}

// ReplaceRecoveryCodes deletes the user's recovery codes, used or not, and stores hashes as
// the new set, in one transaction: the old printout stops working the moment the new one
// exists. An empty hashes just voids the set.
func (d *DB) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string) error {
	err := d.inTx(ctx, func(tx *DB) error {
		if _, err := tx.exec(ctx, tx.q.mfa.deleteRecovery, userID); err != nil {
			return err
		}
		for i, h := range hashes {
			if _, err := tx.exec(ctx, tx.q.mfa.insertRecovery, userID, h); err != nil {
				return fmt.Errorf("code %d: %w", i, err)
			}
		}
		return nil
	})
	return d.wrap(d.durable(ctx, err), "replace recovery codes of %q", userID)
}

// UseRecoveryCode marks the user's unused code with this hash used. The UPDATE decides, so a
// code works once even when presented twice at once; unknown and used codes are both
// ErrNotFound (the caller answers "wrong code" either way).
func (d *DB) UseRecoveryCode(ctx context.Context, userID, hash string, now time.Time) error {
	err := d.durable(ctx, one(d.exec(ctx, d.q.mfa.useRecovery, now.UnixMilli(), userID, hash)))
	return d.wrap(err, "use recovery code of %q", userID)
}

// CountRecoveryCodes returns how many of the user's recovery codes are unused.
func (d *DB) CountRecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	if err := d.get(ctx, &n, d.q.mfa.countRecovery, userID); err != nil {
		return 0, d.wrap(err, "count recovery codes of %q", userID)
	}
	return n, nil
}

// CreateTrustedBrowser remembers that a browser passed MFA. A zero CreatedAt is set to now
// (in b as well); a duplicate token hash is ErrConflict.
func (d *DB) CreateTrustedBrowser(ctx context.Context, b *storage.TrustedBrowser) error {
	b.CreatedAt = orNow(b.CreatedAt, d.clockNow())
	_, err := d.exec(ctx, d.q.mfa.insertBrowser, b.TokenHash, b.UserID, b.UserAgent,
		msOrNull(b.CreatedAt), msOrNull(b.ExpiresAt))
	return d.wrap(err, "create trusted browser")
}

// GetTrustedBrowser returns the entry for the cookie's token hash if it belongs to userID
// and has not expired at now; otherwise ErrNotFound. Matching the user too means a cookie
// left by one person does not skip MFA for another on the same browser.
func (d *DB) GetTrustedBrowser(ctx context.Context, tokenHash, userID string, now time.Time) (*storage.TrustedBrowser, error) {
	var r struct {
		TokenHash string        `db:"token_hash"`
		UserID    string        `db:"user_id"`
		UserAgent string        `db:"user_agent"`
		CreatedAt sql.NullInt64 `db:"created_at"`
		ExpiresAt sql.NullInt64 `db:"expires_at"`
	}
	if err := d.get(ctx, &r, d.q.mfa.getBrowser, tokenHash, userID, now.UnixMilli()); err != nil {
		return nil, d.wrap(err, "get trusted browser")
	}
	return &storage.TrustedBrowser{TokenHash: r.TokenHash, UserID: r.UserID, UserAgent: r.UserAgent,
		CreatedAt: fromMS(r.CreatedAt), ExpiresAt: fromMS(r.ExpiresAt)}, nil
}

// DeleteTrustedBrowsers forgets every trusted browser of the user (after a password change
// or when a factor is removed). Deleting none is not an error.
func (d *DB) DeleteTrustedBrowsers(ctx context.Context, userID string) error {
	_, err := d.exec(ctx, d.q.mfa.deleteBrowsers, userID)
	return d.wrap(d.durable(ctx, err), "delete trusted browsers of %q", userID)
}
