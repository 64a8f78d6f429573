package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/myaccount/myaccount/storage"
)

const userColumns = `id, email, email_normalized, email_verified, password_hash, status, name,
	locale, zoneinfo, country, region, date_format, created_at, updated_at, activated_at,
	reminder_sent_at, locked_until, lockout_count, preferred_mfa`

type userSQL struct {
	insert, get, getForUpdate, lock, getByEmail, list, update, delete, deleteStandaloneTokens string
	listPending, deletePending, deletePendingStandaloneTokens                                 string
}

func newUserSQL(rb func(string) string, forUpdate, lockRow string) userSQL {
	get := `SELECT ` + userColumns + ` FROM users WHERE id = ?`
	return userSQL{
		insert: rb(`INSERT INTO users (` + userColumns + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		get:          rb(get),
		getForUpdate: rb(get + forUpdate),
		lock:         rb(`SELECT id FROM users WHERE id = ?` + lockRow),
		getByEmail:   rb(`SELECT ` + userColumns + ` FROM users WHERE email_normalized = ?`),
		list:         rb(`SELECT ` + userColumns + ` FROM users ORDER BY created_at, id`),
		update: rb(`UPDATE users SET email = ?, email_normalized = ?, email_verified = ?,
			password_hash = ?, status = ?, name = ?, locale = ?, zoneinfo = ?, country = ?,
			region = ?, date_format = ?, created_at = ?, updated_at = ?, activated_at = ?,
			reminder_sent_at = ?, locked_until = ?, lockout_count = ?, preferred_mfa = ?
			WHERE id = ?`),
		delete: rb(`DELETE FROM users WHERE id = ?`),
		// Standalone access tokens (no grant) are tied to the user only by subject, so no
		// foreign key cascades to them.
		deleteStandaloneTokens: rb(`DELETE FROM access_tokens WHERE grant_id IS NULL AND subject = ?`),
		listPending: rb(`SELECT ` + userColumns + ` FROM users WHERE status = ? AND created_at < ?
			ORDER BY created_at, id`),
		// The status test is in the DELETE itself, so a user activated between a
		// ListPendingUsers and this call is never deleted.
		deletePending: rb(`DELETE FROM users WHERE status = ? AND created_at < ?`),
		deletePendingStandaloneTokens: rb(`DELETE FROM access_tokens WHERE grant_id IS NULL AND subject IN
			(SELECT id FROM users WHERE status = ? AND created_at < ?)`),
	}
}

// userRow is the users table's shape.
type userRow struct {
	ID              string        `db:"id"`
	Email           string        `db:"email"`
	EmailNormalized string        `db:"email_normalized"`
	EmailVerified   bool          `db:"email_verified"`
	PasswordHash    string        `db:"password_hash"`
	Status          string        `db:"status"`
	Name            string        `db:"name"`
	Locale          string        `db:"locale"`
	ZoneInfo        string        `db:"zoneinfo"`
	Country         string        `db:"country"`
	Region          string        `db:"region"`
	DateFormat      string        `db:"date_format"`
	CreatedAt       sql.NullInt64 `db:"created_at"`
	UpdatedAt       sql.NullInt64 `db:"updated_at"`
	ActivatedAt     sql.NullInt64 `db:"activated_at"`
	ReminderSentAt  sql.NullInt64 `db:"reminder_sent_at"`
	LockedUntil     sql.NullInt64 `db:"locked_until"`
	LockoutCount    int           `db:"lockout_count"`
	PreferredMFA    string        `db:"preferred_mfa"`
}

func (r *userRow) user() *storage.User {
	return &storage.User{
		ID: r.ID, Email: r.Email, EmailNormalized: r.EmailNormalized, EmailVerified: r.EmailVerified,
		PasswordHash: r.PasswordHash, Status: r.Status, Name: r.Name, Locale: r.Locale,
		ZoneInfo: r.ZoneInfo, Country: r.Country, Region: r.Region, DateFormat: r.DateFormat,
		CreatedAt: fromMS(r.CreatedAt), UpdatedAt: fromMS(r.UpdatedAt), ActivatedAt: fromMSPtr(r.ActivatedAt),
		ReminderSentAt: fromMSPtr(r.ReminderSentAt), LockedUntil: fromMSPtr(r.LockedUntil),
		LockoutCount: r.LockoutCount, PreferredMFA: r.PreferredMFA,
	}
}

// userValues lists the mutable columns in the order insert and update use after the id.
func userValues(u *storage.User) []any {
	return []any{u.Email, u.EmailNormalized, u.EmailVerified, u.PasswordHash, u.Status, u.Name,
		u.Locale, u.ZoneInfo, u.Country, u.Region, u.DateFormat,
		msOrNull(u.CreatedAt), msOrNull(u.UpdatedAt), msPtr(u.ActivatedAt),
		msPtr(u.ReminderSentAt), msPtr(u.LockedUntil), u.LockoutCount, u.PreferredMFA}
}

// CreateUser inserts u. A zero CreatedAt is set to now and a zero UpdatedAt to CreatedAt,
// in u as well. A duplicate id or normalised email is ErrConflict.
func (d *DB) CreateUser(ctx context.Context, u *storage.User) error {
	u.CreatedAt = orNow(u.CreatedAt, d.clockNow())
	u.UpdatedAt = orNow(u.UpdatedAt, u.CreatedAt)
	_, err := d.exec(ctx, d.q.users.insert, append([]any{u.ID}, userValues(u)...)...)
	return d.wrap(err, "create user %q", u.ID)
}

// GetUser returns the user by id.
func (d *DB) GetUser(ctx context.Context, id string) (*storage.User, error) {
	u, err := d.getUser(ctx, d.q.users.get, id)
	return u, d.wrap(err, "get user %q", id)
}

// GetUserByEmail returns the user by normalised email.
func (d *DB) GetUserByEmail(ctx context.Context, emailNormalized string) (*storage.User, error) {
	u, err := d.getUser(ctx, d.q.users.getByEmail, emailNormalized)
	return u, d.wrap(err, "get user by email")
}

func (d *DB) getUser(ctx context.Context, query string, arg string) (*storage.User, error) {
	var r userRow
	if err := d.get(ctx, &r, query, arg); err != nil {
		return nil, err
	}
	return r.user(), nil
}

// ListUsers returns every user, oldest first.
func (d *DB) ListUsers(ctx context.Context) ([]*storage.User, error) {
	var rows []userRow
	if err := d.sel(ctx, &rows, d.q.users.list); err != nil {
		return nil, d.wrap(err, "list users")
	}
	out := make([]*storage.User, len(rows))
	for i := range rows {
		out[i] = rows[i].user()
	}
	return out, nil
}

// UpdateUser loads the user, lets fn change it and stores it, in one transaction; fn's
// error aborts without writing. The id cannot change. UpdatedAt is set to now unless fn set
// it itself.
func (d *DB) UpdateUser(ctx context.Context, id string, fn func(*storage.User) error) (*storage.User, error) {
	var out *storage.User
	err := d.inTx(ctx, func(tx *DB) error {
		u, err := tx.getUser(ctx, tx.q.users.getForUpdate, id)
		if err != nil {
			return err
		}
		before := u.UpdatedAt
		if err := fn(u); err != nil {
			return err
		}
		u.ID = id
		if u.UpdatedAt.Equal(before) {
			u.UpdatedAt = tx.clockNow()
		}
		if _, err := tx.exec(ctx, tx.q.users.update, append(userValues(u), id)...); err != nil {
			return err
		}
		out = u
		return nil
	})
	if err := d.durable(ctx, err); err != nil {
		return nil, d.wrap(err, "update user %q", id)
	}
	return out, nil
}

// LockUser locks the user's row for the rest of the transaction (see storage.UserStore):
// SELECT … FOR UPDATE on PostgreSQL; on SQLite the transaction already excludes every other
// writer, so the read only checks that the user exists.
func (d *DB) LockUser(ctx context.Context, id string) error {
	err := d.inTx(ctx, func(tx *DB) error {
		var got string
		return tx.get(ctx, &got, tx.q.users.lock, id)
	})
	return d.wrap(err, "lock user %q", id)
}

// DeleteUser removes the user. Sessions, auth requests, grants (and through them refresh
// and access tokens) and consents go by ON DELETE CASCADE; standalone access tokens whose
// subject is the user are deleted explicitly, in the same transaction.
func (d *DB) DeleteUser(ctx context.Context, id string) error {
	err := d.inTx(ctx, func(tx *DB) error {
		if _, err := tx.exec(ctx, tx.q.users.deleteStandaloneTokens, id); err != nil {
			return err
		}
		return one(tx.exec(ctx, tx.q.users.delete, id))
	})
	return d.wrap(d.durable(ctx, err), "delete user %q", id)
}

// ListPendingUsers returns users still pending that were created before createdBefore,
// oldest first: the candidates for an activation reminder or for deletion.
func (d *DB) ListPendingUsers(ctx context.Context, createdBefore time.Time) ([]*storage.User, error) {
	var rows []userRow
	if err := d.sel(ctx, &rows, d.q.users.listPending, storage.UserPending, createdBefore.UnixMilli()); err != nil {
		return nil, d.wrap(err, "list pending users")
	}
	out := make([]*storage.User, len(rows))
	for i := range rows {
		out[i] = rows[i].user()
	}
	return out, nil
}

// DeletePendingUsers deletes the users still pending that were created before createdBefore
// and returns how many went. The status is tested by the DELETE itself, not by a prior read,
// so an account activated at the last moment survives. What the users own goes by cascade
// as in DeleteUser, in the same transaction.
func (d *DB) DeletePendingUsers(ctx context.Context, createdBefore time.Time) (int64, error) {
	var n int64
	err := d.inTx(ctx, func(tx *DB) error {
		args := []any{storage.UserPending, createdBefore.UnixMilli()}
		if _, err := tx.exec(ctx, tx.q.users.deletePendingStandaloneTokens, args...); err != nil {
			return err
		}
		var err error
		n, err = tx.exec(ctx, tx.q.users.deletePending, args...)
		return err
	})
	if err != nil {
		return 0, d.wrap(err, "delete pending users")
	}
	return n, nil
}
