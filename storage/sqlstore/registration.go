package sqlstore

import (
	"context"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// Dynamic client registration (RFC 7591/7592). Called rarely, so statements are rebound per
// call like the admin ones in roles.go.

// CreateInitialAccessToken stores t. A zero CreatedAt is set to now (in t as well).
func (d *DB) CreateInitialAccessToken(ctx context.Context, t *storage.InitialAccessToken) error {
	t.CreatedAt = orNow(t.CreatedAt, d.clockNow())
	_, err := d.exec(ctx, d.rb(`INSERT INTO initial_access_tokens (hash, uses_left, created_by, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`), t.Hash, t.UsesLeft, t.CreatedBy, msOrNull(t.CreatedAt), msOrNull(t.ExpiresAt))
	return d.wrap(err, "create initial access token")
}

// UseInitialAccessToken decrements uses_left in one UPDATE whose WHERE clause decides: of
// concurrent registrations only as many as there are uses match. When it matched nothing,
// the row is read to say why.
func (d *DB) UseInitialAccessToken(ctx context.Context, hash string, now time.Time) error {
	err := d.inTx(ctx, func(tx *DB) error {
		ms := now.UnixMilli()
		n, err := tx.exec(ctx, tx.rb(`UPDATE initial_access_tokens SET uses_left = uses_left - 1
			WHERE hash = ? AND uses_left > 0 AND expires_at > ?`), hash, ms)
		if err != nil || n == 1 {
			return err
		}
		var r struct {
			UsesLeft  int   `db:"uses_left"`
			ExpiresAt int64 `db:"expires_at"`
		}
		if err := tx.get(ctx, &r, tx.rb(`SELECT uses_left, expires_at FROM initial_access_tokens WHERE hash = ?`), hash); err != nil {
			return err
		}
		if r.ExpiresAt <= ms {
			return storage.ErrExpired
		}
		return storage.ErrAlreadyUsed
	})
	return d.wrap(d.durable(ctx, err), "use initial access token")
}

// SetRegistrationToken upserts the client's registration row, inserting from the clients row
// so a missing client inserts nothing (instead of a driver-specific foreign-key error).
func (d *DB) SetRegistrationToken(ctx context.Context, clientID, hash string, now time.Time) error {
	err := one(d.exec(ctx, d.rb(`INSERT INTO client_registrations (client_id, token_hash, updated_at)
		SELECT id, ?, ? FROM clients WHERE id = ?
		ON CONFLICT (client_id) DO UPDATE SET token_hash = excluded.token_hash, updated_at = excluded.updated_at`),
		hash, now.UnixMilli(), clientID))
	return d.wrap(d.durable(ctx, err), "set registration token of %q", clientID)
}

// ClientByRegistrationToken looks the client up by its registration token's hash.
func (d *DB) ClientByRegistrationToken(ctx context.Context, hash string) (string, error) {
	var id string
	err := d.get(ctx, &id, d.rb(`SELECT client_id FROM client_registrations WHERE token_hash = ?`), hash)
	return id, d.wrap(err, "client by registration token")
}
