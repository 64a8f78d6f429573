package sqlstore

import (
	"context"
	"time"
)

// authRequestRetention is how long an expired auth request is kept: its row carries the
// code's used mark, and a code replayed after the request expired must still be recognised
// as reused (so the tokens it issued get revoked) rather than answered "unknown".
const authRequestRetention = 24 * time.Hour

type gcSQL struct {
	// steps run in order; grants go last because they are removed only once their tokens are.
	steps []gcStep
}

type gcStep struct {
	name  string
	query string
	// args builds the arguments from now (unix ms).
	args func(now int64) []any
}

func newGCSQL(rb func(string) string) gcSQL {
	nowArg := func(now int64) []any { return []any{now} }
	return gcSQL{steps: []gcStep{
		{"auth requests", rb(`DELETE FROM auth_requests WHERE expires_at < ?`),
			func(now int64) []any { return []any{now - authRequestRetention.Milliseconds()} }},
		{"sessions", rb(`DELETE FROM sessions WHERE expires_at <= ? OR revoked_at <= ?`),
			func(now int64) []any { return []any{now, now} }},
		// Used and revoked tokens are kept until they expire so that presenting one is
		// answered "already used" or "revoked" (and reuse detected), not "unknown".
		{"refresh tokens", rb(`DELETE FROM refresh_tokens WHERE expires_at <= ?`), nowArg},
		{"access tokens", rb(`DELETE FROM access_tokens WHERE expires_at <= ?`), nowArg},
		{"grants", rb(`DELETE FROM grants WHERE revoked_at <= ?
			AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = grants.id)
			AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = grants.id)`), nowArg},
	}}
}

// DeleteExpired removes, in one transaction: auth requests that expired more than a day
// before now; sessions expired or revoked by now; refresh and access tokens expired by now;
// and grants revoked by now that have no tokens left. It returns the number of rows removed.
// Grants that are not revoked are kept even without tokens: they are what the account page
// lists as connected apps.
func (d *DB) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	err := d.inTx(ctx, func(tx *DB) error {
		total = 0
		for _, s := range tx.q.gc.steps {
			n, err := tx.exec(ctx, s.query, s.args(now.UnixMilli())...)
			if err != nil {
				return tx.wrap(err, "%s", s.name)
			}
			total += n
		}
		return nil
	})
	if err != nil {
		return 0, d.wrap(err, "delete expired")
	}
	return total, nil
}
