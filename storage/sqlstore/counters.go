package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// CounterRetention is how long after its window started DeleteExpired keeps a counter. The
// store does not record each counter's window length, so counters with a window longer than
// this would be reset early by the collector: keep rate-limit and lockout windows shorter.
const CounterRetention = 7 * 24 * time.Hour

type counterSQL struct {
	hit, unhit, get, getAny, reset string
	acquireLease                   string
	releaseLease                   string
}

func newCounterSQL(rb func(string) string) counterSQL {
	return counterSQL{
		// One statement, so it is atomic on both backends: SQLite runs it under the write
		// lock, PostgreSQL's ON CONFLICT locks the row and re-reads it, so parallel hits are
		// all counted. A window that started at or before now-window is over: restart at 1.
		// Both SET expressions read the row as it was before the update.
		hit: rb(`INSERT INTO counters (key, window_start, count) VALUES (?, ?, 1)
			ON CONFLICT (key) DO UPDATE SET
				count = CASE WHEN counters.window_start <= ? THEN 1 ELSE counters.count + 1 END,
				window_start = CASE WHEN counters.window_start <= ? THEN excluded.window_start ELSE counters.window_start END
			RETURNING count`),
		// The window that counted a hit at t started at or before t and less than a window
		// before it; a later window (or none) is not the one to take the hit from.
		unhit:  rb(`UPDATE counters SET count = count - 1 WHERE key = ? AND count > 0 AND window_start <= ? AND window_start > ?`),
		get:    rb(`SELECT count FROM counters WHERE key = ? AND window_start > ?`),
		getAny: rb(`SELECT count, window_start FROM counters WHERE key = ?`),
		reset:  rb(`DELETE FROM counters WHERE key = ?`),
		// A conditional upsert: the insert wins when the lease is free; otherwise the update
		// applies only when the lease is ours or has expired. Zero rows affected means another
		// holder has it. Atomic for the same reasons as hit.
		acquireLease: rb(`INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`),
		releaseLease: rb(`DELETE FROM leases WHERE name = ? AND holder = ?`),
	}
}

// counterKind is what an error may say of a counter's key: its kind ("pwfail:…"), not the
// email or IP address the rest of it is, which would reach the logs with the error.
func counterKind(key string) string {
	if i := strings.IndexByte(key, ':'); i >= 0 {
		return key[:i+1] + "…"
	}
	return "…"
}

// windowOver returns the unix-ms instant at or before which a window that started has ended.
func windowOver(window time.Duration, now time.Time) int64 {
	return now.Add(-window).UnixMilli()
}

// HitCounter counts one hit on key in the fixed window that contains now and returns the
// count so far. A window lasts window from its first hit; the first hit at or after its end
// starts a new one at 1.
func (d *DB) HitCounter(ctx context.Context, key string, window time.Duration, now time.Time) (int, error) {
	if window <= 0 {
		return 0, fmt.Errorf("hit counter %q: window %v is not positive", counterKind(key), window)
	}
	over := windowOver(window, now)
	var n int
	err := d.get(ctx, &n, d.q.counters.hit, key, now.UnixMilli(), over, over)
	if err != nil {
		return 0, d.wrap(err, "hit counter %q", counterKind(key))
	}
	return n, nil
}

// CounterValue returns the count of key in its current window: 0 when the key is unknown or
// its window is over.
func (d *DB) CounterValue(ctx context.Context, key string, window time.Duration, now time.Time) (int, error) {
	var n int
	err := d.get(ctx, &n, d.q.counters.get, key, windowOver(window, now))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, d.wrap(err, "counter %q", counterKind(key))
	}
	return n, nil
}

// GetCounter returns key's stored count and window start whatever their age; ErrNotFound
// when the key is unknown. Lockouts use the window start to tell when a lock ends.
func (d *DB) GetCounter(ctx context.Context, key string) (int, time.Time, error) {
	var r struct {
		Count       int           `db:"count"`
		WindowStart sql.NullInt64 `db:"window_start"`
	}
	if err := d.get(ctx, &r, d.q.counters.getAny, key); err != nil {
		return 0, time.Time{}, d.wrap(err, "get counter %q", counterKind(key))
	}
	return r.Count, fromMS(r.WindowStart), nil
}

// ResetCounter forgets key (after a successful sign-in, a password reset, ...). Resetting an
// unknown key is not an error.
func (d *DB) ResetCounter(ctx context.Context, key string) error {
	_, err := d.exec(ctx, d.q.counters.reset, key)
	return d.wrap(err, "reset counter %q", counterKind(key))
}

// UnhitCounter takes back one hit made at hitAt, if the window it counted in is still key's.
func (d *DB) UnhitCounter(ctx context.Context, key string, window time.Duration, hitAt time.Time) error {
	if window <= 0 {
		return fmt.Errorf("unhit counter %q: window %v is not positive", counterKind(key), window)
	}
	_, err := d.exec(ctx, d.q.counters.unhit, key, hitAt.UnixMilli(), windowOver(window, hitAt))
	return d.wrap(err, "unhit counter %q", counterKind(key))
}

// AcquireLease takes the named lease for holder until now+ttl, or renews it, when it is free,
// expired (expires_at <= now) or already holder's; it reports whether holder now has it.
// Instances race by calling it; the database decides, so exactly one wins.
func (d *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	if holder == "" || ttl <= 0 {
		return false, fmt.Errorf("acquire lease %q: need a holder and a positive ttl (got %q, %v)", name, holder, ttl)
	}
	n, err := d.exec(ctx, d.q.counters.acquireLease, name, holder, now.Add(ttl).UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, d.wrap(err, "acquire lease %q", name)
	}
	return n > 0, nil
}

// ReleaseLease gives the lease up if holder has it, so another instance can take it at once
// instead of waiting for it to expire. Releasing a lease held by someone else (or nobody)
// does nothing: holder may have lost it by expiry.
func (d *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := d.exec(ctx, d.q.counters.releaseLease, name, holder)
	return d.wrap(err, "release lease %q", name)
}
