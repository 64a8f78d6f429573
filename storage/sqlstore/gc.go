package sqlstore

import (
	"context"
	"database/sql"
	"slices"
	"strconv"
	"sync"
	"time"
)

// authRequestRetention is how long an expired auth request is kept: its row carries the
// code's used mark, and a code replayed after the request expired must still be recognised
// as reused (so the tokens it issued get revoked) rather than answered "unknown".
const authRequestRetention = 24 * time.Hour

// usedTokenRetention is how long a used one-time token is kept after its use, so that a
// second click on an activation or reset link is answered "already used", not "unknown".
const usedTokenRetention = 24 * time.Hour

// UntoldSessionRetention is how long a session that expired but was never revoked is kept.
// Housekeeping tells an expired session's clients (back-channel logout) and then revokes it,
// and the sweep deletes sessions once revoked: deleting one merely expired would drop the
// logout of one whose telling failed, or that expired after the telling ran. Only a session
// that could not be told for this long (or on an instance without a notifier) goes untold,
// so that the table stays bounded.
const UntoldSessionRetention = 7 * 24 * time.Hour

// gcBatch bounds every housekeeping statement: a purge deletes at most this many rows, and
// the superseded-grants sweep looks at most at this many grants. One unbounded DELETE over
// millions of rows ran past the call's deadline (and on SQLite held the one writer
// connection for all of it); batches let requests' writes in between and make progress that
// survives the deadline.
const gcBatch = 1000

// gcReserveMin is the least time left before the context's deadline at which another batch
// is started; the real reserve is twice the slowest batch so far, when that is larger.
const gcReserveMin = 50 * time.Millisecond

type gcSQL struct {
	// steps run in order; grants go last because they are removed only once their tokens are.
	steps []gcStep
	// The superseded-grants sweep, by primary-key windows of gcBatch grants: supersededHi
	// finds the window's last id after the cursor, supersededDel deletes within (lo, hi].
	supersededHi  string
	supersededDel string
}

type gcStep struct {
	name  string
	query string // DELETE of at most gcBatch rows
	// args builds the arguments from now (unix ms).
	args func(now int64) []any
}

// gcCursor remembers where the superseded-grants sweep stopped when a run ran out of time,
// so the next run goes on from there instead of revisiting the same first grants. Shared by
// every copy of a DB (WithClock, transaction-bound) through a pointer.
type gcCursor struct {
	mu    sync.Mutex
	after string // the last grant id swept; "" = from the start
}

func (c *gcCursor) get() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.after
}

func (c *gcCursor) set(after string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.after = after
}

// batchDelete is a DELETE of at most gcBatch rows of table matching where, by primary key:
// both SQLite and PostgreSQL accept LIMIT in the subquery (neither accepts it on DELETE
// itself portably). where is repeated on the DELETE itself, so its placeholders take their
// arguments twice (batchArgs): PostgreSQL picks the keys from the statement's snapshot, and
// when a chosen row was renewed concurrently (a lease taken over, a counter's window
// restarted) it re-checks only the DELETE's own condition against the committed row; with
// "key IN (…)" alone that still matches, and the live row would go.
func batchDelete(table, key, where string) string {
	return `DELETE FROM ` + table + ` WHERE ` + key + ` IN (SELECT ` + key + ` FROM ` + table +
		` WHERE ` + where + ` LIMIT ` + strconv.Itoa(gcBatch) + `) AND (` + where + `)`
}

// batchArgs is the arguments of a batchDelete statement from those of its condition.
func batchArgs(args []any) []any {
	return slices.Concat(args, args)
}

// inBatches runs a batchDelete statement (args: its condition's) until it removes fewer
// than gcBatch rows: each statement is its own short write, so a large purge never holds
// the write lock (SQLite) or a long transaction (PostgreSQL) while sign-ins wait. It stops
// early when ctx ends.
func (d *DB) inBatches(ctx context.Context, query string, args ...any) (int64, error) {
	var total int64
	for {
		n, err := d.exec(ctx, query, batchArgs(args)...)
		total += n
		if err != nil || n < gcBatch {
			return total, err
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

func newGCSQL(rb func(string) string) gcSQL {
	nowArg := func(now int64) []any { return []any{now} }
	step := func(name, table, key, where string, args func(int64) []any) gcStep {
		return gcStep{name, rb(batchDelete(table, key, where)), func(now int64) []any { return batchArgs(args(now)) }}
	}
	return gcSQL{
		steps: []gcStep{
			step("auth requests", "auth_requests", "id", `expires_at < ?`,
				func(now int64) []any { return []any{now - authRequestRetention.Milliseconds()} }),
			step("sessions", "sessions", "id", `revoked_at <= ? OR expires_at <= ?`,
				func(now int64) []any { return []any{now, now - UntoldSessionRetention.Milliseconds()} }),
			// Used and revoked tokens are kept until they expire so that presenting one is
			// answered "already used" or "revoked" (and reuse detected), not "unknown".
			step("refresh tokens", "refresh_tokens", "id", `expires_at <= ?`, nowArg),
			step("access tokens", "access_tokens", "id_hash", `expires_at <= ?`, nowArg),
			// A denylisted token past its expiry is refused for that alone.
			step("denied access tokens", "revoked_access_tokens", "id_hash", `expires_at <= ?`, nowArg),
			// A grant goes only once none of its tokens can be live: no refresh or access
			// token row is left, and its row-less access tokens (which name it) have expired.
			step("grants", "grants", "id", `revoked_at <= ?
				AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = grants.id)
				AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = grants.id)
				AND (access_expires_at IS NULL OR access_expires_at <= ?)`, func(now int64) []any { return []any{now, now} }),
			// Unused tokens go when they expire, used ones a day after their use.
			step("one-time tokens", "one_time_tokens", "hash", `(used_at IS NULL AND expires_at <= ?) OR used_at <= ?`,
				func(now int64) []any { return []any{now, now - usedTokenRetention.Milliseconds()} }),
			step("captchas", "captchas", "id", `expires_at <= ?`, nowArg),
			step("initial access tokens", "initial_access_tokens", "hash", `expires_at <= ? OR uses_left = 0`, nowArg),
			step("device codes", "device_codes", "device_code_hash", `expires_at <= ?`, nowArg),
			step("trusted browsers", "trusted_browsers", "token_hash", `expires_at <= ?`, nowArg),
			// A phone number's code nobody entered (issue 15): at most one row per person.
			step("phone verifications", "phone_verifications", "user_id", `expires_at <= ?`, nowArg),
			step("pushed authorization requests", "pushed_requests", "hash", `expires_at <= ?`, nowArg),
			// A JWT id past its expiry: the JWT itself is refused by then. The key is (kind,
			// jti_hash), so the batch is chosen by both (row values: SQLite 3.15+, PostgreSQL),
			// and its condition repeated on the DELETE as batchDelete does.
			{"used jtis", rb(`DELETE FROM used_jtis WHERE (kind, jti_hash) IN (SELECT kind, jti_hash FROM used_jtis
				WHERE expires_at <= ? LIMIT ` + strconv.Itoa(gcBatch) + `) AND expires_at <= ?`),
				func(now int64) []any { return []any{now, now} }},
			step("counters", "counters", "key", `window_start <= ?`,
				func(now int64) []any { return []any{now - CounterRetention.Milliseconds()} }),
			step("leases", "leases", "name", `expires_at <= ?`, nowArg),
		},
		// Every code exchange makes a grant, so without this sweep grants would grow with every
		// sign-in. A grant with no tokens left is kept only while it is the newest live grant
		// of its user and client: that one keeps the app listed on the account pages. It has
		// no cheap filter to LIMIT on (most live grants qualify for the scan), so it walks the
		// table in windows of the primary key instead.
		supersededHi: rb(`SELECT MAX(id) FROM (SELECT id FROM grants WHERE id > ? ORDER BY id LIMIT ` + strconv.Itoa(gcBatch) + `) w`),
		// The unary + keeps SQLite from walking the revoked_at index (every live grant, since
		// without statistics it guesses an equality matches a few rows) instead of the
		// window of the primary key; PostgreSQL accepts it as the identity on BIGINT.
		supersededDel: rb(`DELETE FROM grants WHERE id > ? AND id <= ? AND +revoked_at IS NULL AND user_id IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = grants.id)
			AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = grants.id)
			AND (access_expires_at IS NULL OR access_expires_at <= ?)
			AND EXISTS (SELECT 1 FROM grants n WHERE n.user_id = grants.user_id
				AND n.client_id = grants.client_id AND n.revoked_at IS NULL AND n.created_at > grants.created_at)`),
	}
}

// gcRun paces the batches of one DeleteExpired against its context's deadline.
type gcRun struct {
	deadline time.Time // zero: none
	slowest  time.Duration
}

// more reports whether another batch fits before the deadline.
func (r *gcRun) more() bool {
	if r.deadline.IsZero() {
		return true
	}
	return time.Until(r.deadline) > max(2*r.slowest, gcReserveMin)
}

// timed runs one batch and remembers the slowest.
func (r *gcRun) timed(f func() (int64, error)) (int64, error) {
	start := time.Now()
	n, err := f()
	r.slowest = max(r.slowest, time.Since(start))
	return n, err
}

// DeleteExpired removes auth requests that expired more than a day before now; sessions
// revoked by now, or expired more than UntoldSessionRetention before now; refresh and access tokens and denylist entries expired by now;
// grants revoked by now that have no tokens left (rows, or row-less access tokens still
// unexpired: Grant.AccessExpiresAt); grants with no tokens left that a newer
// live grant of the same user and client supersedes; one-time tokens unused and expired, or
// used more than a day ago; expired captchas, spent or expired initial access tokens, device
// codes, trusted browsers and leases; and counters whose window started more than
// CounterRetention ago. It returns the number of rows removed.
//
// Every statement touches at most gcBatch rows and commits on its own (inside InTx they all
// join the caller's transaction). When the context has a deadline, no batch is started that
// might not finish before it: the call then returns what it removed so far, without error,
// and the next call goes on (the superseded-grants sweep from where it stopped). A backlog
// of millions of rows thus drains over a few runs instead of failing every run.
// The newest live grant of a user and client is kept even without tokens: it is what the
// account pages list as a connected app.
func (d *DB) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	run := &gcRun{}
	if dl, ok := ctx.Deadline(); ok {
		run.deadline = dl
	}
	var total int64
	ms := now.UnixMilli()
	for _, s := range d.q.gc.steps {
		for run.more() {
			n, err := run.timed(func() (int64, error) { return d.exec(ctx, s.query, s.args(ms)...) })
			if err != nil {
				return total, d.wrap(err, "delete expired: %s", s.name)
			}
			total += n
			if n < gcBatch {
				break
			}
		}
	}
	n, err := d.sweepSuperseded(ctx, run, ms)
	total += n
	if err != nil {
		return total, d.wrap(err, "delete expired: superseded grants")
	}
	return total, nil
}

// sweepSuperseded runs the superseded-grants step window by window from where the last call
// stopped to the end of the table; reaching the end starts the next call from the beginning.
func (d *DB) sweepSuperseded(ctx context.Context, run *gcRun, now int64) (int64, error) {
	lo := d.gcCur.get()
	var total int64
	for run.more() {
		var hi sql.NullString
		if _, err := run.timed(func() (int64, error) { return 0, d.get(ctx, &hi, d.q.gc.supersededHi, lo) }); err != nil {
			return total, err
		}
		if !hi.Valid { // past the last grant
			d.gcCur.set("")
			return total, nil
		}
		n, err := run.timed(func() (int64, error) { return d.exec(ctx, d.q.gc.supersededDel, lo, hi.String, now) })
		if err != nil {
			return total, err
		}
		total += n
		lo = hi.String
		d.gcCur.set(lo)
	}
	return total, nil
}
