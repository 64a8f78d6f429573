package sqlstore

import (
	"context"
	"time"
)

// RememberJTI inserts the (kind, hash) pair in one statement; the primary key makes a second
// insert of a live entry change nothing (0 rows), which is the replay signal, and lets a
// stale entry not yet purged be taken over. One statement needs no transaction and is
// race-free on both dialects: ON CONFLICT waits for a concurrent insert of the same key.
func (d *DB) RememberJTI(ctx context.Context, kind, jtiHash string, expires time.Time) (bool, error) {
	n, err := d.exec(ctx, d.rb(`INSERT INTO used_jtis (kind, jti_hash, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (kind, jti_hash) DO UPDATE SET expires_at = excluded.expires_at
		WHERE used_jtis.expires_at <= ?`), kind, jtiHash, expires.UnixMilli(), d.clockNow().UnixMilli())
	if err != nil {
		return false, d.wrap(err, "remember jti")
	}
	return n == 1, nil
}

// ForgetJTI deletes the (kind, hash) entry, live or not.
func (d *DB) ForgetJTI(ctx context.Context, kind, jtiHash string) error {
	if _, err := d.exec(ctx, d.rb(`DELETE FROM used_jtis WHERE kind = ? AND jti_hash = ?`), kind, jtiHash); err != nil {
		return d.wrap(err, "forget jti")
	}
	return nil
}
