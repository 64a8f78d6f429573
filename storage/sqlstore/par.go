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
	var row struct {
		Hash      string `db:"hash"`
		ClientID  string `db:"client_id"`
		Params    string `db:"params"`
		CreatedAt int64  `db:"created_at"`
		ExpiresAt int64  `db:"expires_at"`
	}
	err := d.get(ctx, &row, d.rb(`DELETE FROM pushed_requests WHERE hash = ? AND client_id = ?
		RETURNING hash, client_id, params, created_at, expires_at`), hash, clientID)
	if err != nil {
		return nil, d.wrap(err, "take pushed request")
	}
	r := &storage.PushedRequest{Hash: row.Hash, ClientID: row.ClientID, Params: row.Params,
		CreatedAt: msTime(row.CreatedAt), ExpiresAt: msTime(row.ExpiresAt)}
	if !now.Before(r.ExpiresAt) {
		return nil, storage.ErrExpired
	}
	return r, nil
}
