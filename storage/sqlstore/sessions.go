package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/myaccount/myaccount/storage"
)

const sessionColumns = `id, token_hash, user_id, auth_time, amr, acr, user_agent, ip,
	created_at, last_seen_at, expires_at, revoked_at`

type sessionSQL struct {
	insert, get, getForUpdate, getLive, touch, revoke, list, revokeUser, expired, idle string
}

func newSessionSQL(rb func(string) string, forUpdate string) sessionSQL {
	const get = `SELECT ` + sessionColumns + ` FROM sessions WHERE id = ?`
	return sessionSQL{
		insert: rb(`INSERT INTO sessions (` + sessionColumns + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		get:          rb(get),
		getForUpdate: rb(get + forUpdate),
		getLive: rb(`SELECT ` + sessionColumns + ` FROM sessions
			WHERE token_hash = ? AND revoked_at IS NULL AND expires_at > ?`),
		touch: rb(`UPDATE sessions SET last_seen_at = ? WHERE id = ?`),
		// COALESCE keeps the first revocation time, and the row still counts as matched so a
		// second revoke is not mistaken for an unknown id.
		revoke:     rb(`UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`),
		list:       rb(`SELECT ` + sessionColumns + ` FROM sessions WHERE user_id = ? ORDER BY last_seen_at DESC, id`),
		revokeUser: rb(`UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`),
		expired: rb(`SELECT ` + sessionColumns + ` FROM sessions
			WHERE expires_at <= ? AND revoked_at IS NULL ORDER BY expires_at, id LIMIT ?`),
		// sessions_live_last_seen_at serves it (its condition is the query's).
		idle: rb(`SELECT ` + sessionColumns + ` FROM sessions
			WHERE last_seen_at <= ? AND revoked_at IS NULL ORDER BY last_seen_at, id LIMIT ?`),
	}
}

// sessionRow is the sessions table's shape.
type sessionRow struct {
	ID         string        `db:"id"`
	TokenHash  string        `db:"token_hash"`
	UserID     string        `db:"user_id"`
	AuthTime   sql.NullInt64 `db:"auth_time"`
	AMR        string        `db:"amr"`
	ACR        string        `db:"acr"`
	UserAgent  string        `db:"user_agent"`
	IP         string        `db:"ip"`
	CreatedAt  sql.NullInt64 `db:"created_at"`
	LastSeenAt sql.NullInt64 `db:"last_seen_at"`
	ExpiresAt  sql.NullInt64 `db:"expires_at"`
	RevokedAt  sql.NullInt64 `db:"revoked_at"`
}

func (r *sessionRow) session() (*storage.Session, error) {
	amr, err := decodeList("amr", r.AMR)
	if err != nil {
		return nil, err
	}
	return &storage.Session{
		ID: r.ID, TokenHash: r.TokenHash, UserID: r.UserID, AuthTime: fromMS(r.AuthTime),
		AMR: amr, ACR: r.ACR, UserAgent: r.UserAgent, IP: r.IP,
		CreatedAt: fromMS(r.CreatedAt), LastSeenAt: fromMS(r.LastSeenAt),
		ExpiresAt: fromMS(r.ExpiresAt), RevokedAt: fromMSPtr(r.RevokedAt),
	}, nil
}

// CreateSession inserts s. A zero CreatedAt is set to now and a zero LastSeenAt to
// CreatedAt, in s as well. The user must exist; a duplicate id or token hash is ErrConflict.
func (d *DB) CreateSession(ctx context.Context, s *storage.Session) error {
	s.CreatedAt = orNow(s.CreatedAt, d.clockNow())
	s.LastSeenAt = orNow(s.LastSeenAt, s.CreatedAt)
	_, err := d.exec(ctx, d.q.sessions.insert,
		s.ID, s.TokenHash, s.UserID, msOrNull(s.AuthTime), encodeList(s.AMR), s.ACR,
		s.UserAgent, s.IP, msOrNull(s.CreatedAt), msOrNull(s.LastSeenAt),
		msOrNull(s.ExpiresAt), msPtr(s.RevokedAt))
	return d.wrap(err, "create session %q", s.ID)
}

// GetSessionByTokenHash returns the session whose cookie secret hashes to tokenHash, if it
// is live at now; revoked, expired and unknown sessions are all ErrNotFound, because the
// caller's answer (no session) is the same.
func (d *DB) GetSessionByTokenHash(ctx context.Context, tokenHash string, now time.Time) (*storage.Session, error) {
	s, err := d.getSession(ctx, d.q.sessions.getLive, tokenHash, now.UnixMilli())
	return s, d.wrap(err, "get session by token")
}

// GetSession returns the session by id whatever its state. In a transaction it locks the
// row until the commit (PostgreSQL: FOR UPDATE; SQLite serialises writers anyway), so that
// what is decided on it holds: two sign-outs of one session at once both read it live, and
// both told its clients (sessions.End tells only when it finds the session live).
func (d *DB) GetSession(ctx context.Context, id string) (*storage.Session, error) {
	q := d.q.sessions.get
	if d.tx != nil {
		q = d.q.sessions.getForUpdate
	}
	s, err := d.getSession(ctx, q, id)
	return s, d.wrap(err, "get session %q", id)
}

func (d *DB) getSession(ctx context.Context, query string, args ...any) (*storage.Session, error) {
	var r sessionRow
	if err := d.get(ctx, &r, query, args...); err != nil {
		return nil, err
	}
	return r.session()
}

// TouchSession records activity at now.
func (d *DB) TouchSession(ctx context.Context, id string, now time.Time) error {
	return d.wrap(one(d.exec(ctx, d.q.sessions.touch, now.UnixMilli(), id)), "touch session %q", id)
}

// RevokeSession revokes the session; revoking it again keeps the first time.
func (d *DB) RevokeSession(ctx context.Context, id string, now time.Time) error {
	return d.wrap(d.durable(ctx, one(d.exec(ctx, d.q.sessions.revoke, now.UnixMilli(), id))), "revoke session %q", id)
}

// ListSessions returns all of the user's sessions still stored, including revoked and
// expired ones (DeleteExpired removes those), most recently seen first.
func (d *DB) ListSessions(ctx context.Context, userID string) ([]*storage.Session, error) {
	var rows []sessionRow
	if err := d.sel(ctx, &rows, d.q.sessions.list, userID); err != nil {
		return nil, d.wrap(err, "list sessions of %q", userID)
	}
	out := make([]*storage.Session, len(rows))
	for i := range rows {
		s, err := rows[i].session()
		if err != nil {
			return nil, d.wrap(err, "list sessions of %q", userID)
		}
		out[i] = s
	}
	return out, nil
}

// RevokeUserSessions revokes every live session of the user ("sign out everywhere").
func (d *DB) RevokeUserSessions(ctx context.Context, userID string, now time.Time) error {
	_, err := d.exec(ctx, d.q.sessions.revokeUser, now.UnixMilli(), userID)
	return d.wrap(d.durable(ctx, err), "revoke sessions of %q", userID)
}

// ListExpiredSessions returns up to limit sessions expired by now and not revoked, soonest
// expired first (the expires_at index).
func (d *DB) ListExpiredSessions(ctx context.Context, now time.Time, limit int) ([]*storage.Session, error) {
	return d.listSessions(ctx, "list expired sessions", d.q.sessions.expired, now.UnixMilli(), limit)
}

// ListIdleSessions returns up to limit sessions last seen by seenBefore and not revoked,
// least recently seen first (the sessions_live_last_seen_at index).
func (d *DB) ListIdleSessions(ctx context.Context, seenBefore time.Time, limit int) ([]*storage.Session, error) {
	return d.listSessions(ctx, "list idle sessions", d.q.sessions.idle, seenBefore.UnixMilli(), limit)
}

func (d *DB) listSessions(ctx context.Context, what, query string, args ...any) ([]*storage.Session, error) {
	var rows []sessionRow
	if err := d.sel(ctx, &rows, query, args...); err != nil {
		return nil, d.wrap(err, "%s", what)
	}
	out := make([]*storage.Session, len(rows))
	for i := range rows {
		s, err := rows[i].session()
		if err != nil {
			return nil, d.wrap(err, "%s", what)
		}
		out[i] = s
	}
	return out, nil
}
