package sqlstore

import (
	"context"
	"time"
)

// authRequestRetention is how long an expired auth request is kept: its row carries the
// code's used mark, and a code replayed after the request expired must still be recognised
// as reused (so the tokens it issued get revoked) rather than answered "unknown".
const authRequestRetention = 24 * time.Hour

// usedTokenRetention is how long a used one-time token is kept after its use, so that a
// second click on an activation or reset link is answered "already used", not "unknown".
const usedTokenRetention = 24 * time.Hour

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
		// A denylisted token past its expiry is refused for that alone.
		{"denied access tokens", rb(`DELETE FROM revoked_access_tokens WHERE expires_at <= ?`), nowArg},
		{"grants", rb(`DELETE FROM grants WHERE revoked_at <= ?
			AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = grants.id)
			AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = grants.id)`), nowArg},
		// Every code exchange makes a grant, so without this step grants would grow with every
		// sign-in. A grant with no tokens left is kept only while it is the newest live grant
		// of its user and client: that one keeps the app listed on the account pages.
		{"superseded grants", rb(`DELETE FROM grants WHERE revoked_at IS NULL AND user_id IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = grants.id)
			AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = grants.id)
			AND EXISTS (SELECT 1 FROM grants n WHERE n.user_id = grants.user_id
				AND n.client_id = grants.client_id AND n.revoked_at IS NULL AND n.created_at > grants.created_at)`),
			func(int64) []any { return nil }},
		// Unused tokens go when they expire, used ones a day after their use.
		{"one-time tokens", rb(`DELETE FROM one_time_tokens
			WHERE (used_at IS NULL AND expires_at <= ?) OR used_at <= ?`),
			func(now int64) []any { return []any{now, now - usedTokenRetention.Milliseconds()} }},
		{"captchas", rb(`DELETE FROM captchas WHERE expires_at <= ?`), nowArg},
		{"initial access tokens", rb(`DELETE FROM initial_access_tokens WHERE expires_at <= ? OR uses_left = 0`), nowArg},
		{"device codes", rb(`DELETE FROM device_codes WHERE expires_at <= ?`), nowArg},
		{"trusted browsers", rb(`DELETE FROM trusted_browsers WHERE expires_at <= ?`), nowArg},
		{"counters", rb(`DELETE FROM counters WHERE window_start <= ?`),
			func(now int64) []any { return []any{now - CounterRetention.Milliseconds()} }},
		{"leases", rb(`DELETE FROM leases WHERE expires_at <= ?`), nowArg},
	}}
}

// DeleteExpired removes, in one transaction: auth requests that expired more than a day
// before now; sessions expired or revoked by now; refresh and access tokens and denylist
// entries expired by now;
// grants revoked by now that have no tokens left; grants with no tokens left that a newer
// live grant of the same user and client supersedes; one-time tokens unused and expired, or used
// more than a day ago; expired captchas, spent or expired initial access tokens, device codes, trusted browsers and leases; and
// counters whose window started more than CounterRetention ago. It returns the number of
// rows removed.
// The newest live grant of a user and client is kept even without tokens: it is what the
// account pages list as a connected app.
func (d *DB) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	err := d.inTx(ctx, func(tx *DB) error {
		total = 0 // a retried transaction starts over
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
