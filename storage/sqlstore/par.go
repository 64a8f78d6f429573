package sqlstore

import (
	"context"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// Pushed authorization requests (RFC 9126).

// PutPushedRequest stores r.
func (d *DB) PutPushedRequest(ctx context.Context, r *storage.PushedRequest) error {
	r.CreatedAt = orNow(r.CreatedAt, d.clockNow())
	_, err := d.exec(ctx, d.rb(`INSERT INTO pushed_requests (hash, client_id, params, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`), r.Hash, r.ClientID, r.Params, msOrNull(r.CreatedAt), msOrNull(r.ExpiresAt))
	return d.wrap(err, "put pushed request")
}

// TakePushedRequest deletes and returns the row in one DELETE ... RETURNING (SQLite 3.35+ and
// PostgreSQL): two uses of one request_uri cannot both get it.
func (d *DB) TakePushedRequest(ctx context.Context, hash, clientID string, now time.Time) (*storage.PushedRequest, error) {
	return d.pushedRequest(ctx, "take pushed request", `DELETE FROM pushed_requests WHERE hash = ? AND client_id = ?
		RETURNING hash, client_id, params, created_at, expires_at`, hash, clientID, now)
}

// GetPushedRequest is TakePushedRequest without the taking.
func (d *DB) GetPushedRequest(ctx context.Context, hash, clientID string, now time.Time) (*storage.PushedRequest, error) {
	return d.pushedRequest(ctx, "get pushed request", `SELECT hash, client_id, params, created_at, expires_at
		FROM pushed_requests WHERE hash = ? AND client_id = ?`, hash, clientID, now)
}

// pushedRequest runs query, which returns the pushed request of hash and clientID, and
// refuses it when expired at now.
func (d *DB) pushedRequest(ctx context.Context, what, query, hash, clientID string, now time.Time) (*storage.PushedRequest, error) {
	var row struct {
		Hash      string `db:"hash"`
		ClientID  string `db:"client_id"`
		Params    string `db:"params"`
		CreatedAt int64  `db:"created_at"`
		ExpiresAt int64  `db:"expires_at"`
	}
	if err := d.get(ctx, &row, d.rb(query), hash, clientID); err != nil {
		return nil, d.wrap(err, "%s", what)
	}
	r := &storage.PushedRequest{Hash: row.Hash, ClientID: row.ClientID, Params: row.Params,
		CreatedAt: msTime(row.CreatedAt), ExpiresAt: msTime(row.ExpiresAt)}
	if !now.Before(r.ExpiresAt) {
		return nil, storage.ErrExpired
	}
	return r, nil
}
