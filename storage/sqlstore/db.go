// Package sqlstore is MyAccount's one SQL implementation of storage.Store, written against
// sqlx so that SQLite and PostgreSQL share every query. What differs between backends (bind
// placeholders, how a unique violation looks, row locking, which failures deserve a retry)
// is described by a Dialect; each
// backend package (storage/sqlite, storage/postgres) opens the driver, applies its
// migrations and hands the handle to New.
//
// Schema conventions shared by every backend's migrations:
//   - times are BIGINT unix milliseconds (UTC); a zero time.Time is stored as NULL;
//   - string lists are JSON arrays in TEXT columns (an empty list is "[]" and reads back nil);
//   - durations are BIGINT seconds;
//   - booleans are BOOLEAN (PostgreSQL) or INTEGER 0/1 (SQLite), bytes BYTEA or BLOB;
//   - ids are TEXT primary keys, and an empty optional reference (user_id of a
//     client_credentials grant, grant_id of a standalone access token, a request's code_hash)
//     is NULL so that foreign keys and UNIQUE constraints ignore it.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/myaccount/myaccount/storage"
)

// Dialect describes what differs between SQL backends. Backend packages build one; sqlstore
// itself imports no driver.
type Dialect struct {
	// Name identifies the backend in error messages ("sqlite", "postgres").
	Name string
	// BindType is the sqlx bind type (sqlx.QUESTION, sqlx.DOLLAR, ...). Queries are written
	// once with ? placeholders and rebound to it once, in New.
	BindType int
	// IsUniqueViolation reports whether err is the driver's unique or primary-key violation;
	// the store maps it to storage.ErrConflict. Only the driver knows its error type, so the
	// backend supplies this.
	IsUniqueViolation func(error) bool
	// ForUpdate is appended to the SELECT that starts a read-modify-write (UpdateUser, ...).
	// PostgreSQL needs " FOR UPDATE" or two concurrent updates of one row lose one write under
	// READ COMMITTED; SQLite has no such clause and needs none, because its write transactions
	// begin IMMEDIATE and so already exclude each other.
	ForUpdate string
	// LockRow is appended to a SELECT that takes a row only to serialise the transactions
	// that decide from what it owns (LockUser, LockClient). PostgreSQL's " FOR NO KEY
	// UPDATE" excludes every other such lock and every update of the row as FOR UPDATE does,
	// but, unlike it, lets other transactions meanwhile insert rows that reference it (a
	// session, an audit event: their foreign key takes only a key-share lock), so a factor
	// change does not hold up the person's sign-ins. SQLite: "", as for ForUpdate.
	LockRow string
	// IsRetryable reports whether a transaction failed only because of concurrency
	// (PostgreSQL's serialization failure or deadlock) and may succeed if run again; such
	// transactions are retried a few times with jittered backoff. nil means never: SQLite
	// serialises writers and waits (busy_timeout) instead of failing.
	IsRetryable func(error) bool
	// CacheStatements keeps each query prepared once per pool (see stmtCache) instead of
	// preparing it anew at every call. SQLite turns it on: its driver prepares every
	// statement on every call, which was ~11 % of a client_credentials grant's CPU.
	// PostgreSQL leaves it off: pgx already caches prepared statements per connection, and
	// a transaction-mode pooler (PgBouncer) in front of several instances cannot keep
	// statements prepared through database/sql.
	CacheStatements bool
}

// Retry policy for transactions the dialect calls retryable. A deadlock victim has been
// rolled back, so running it again is safe; the jitter keeps the same two transactions from
// colliding again in lock step.
const (
	txAttempts    = 5
	txBackoffBase = 5 * time.Millisecond
)

// DB implements storage.Store on a *sqlx.DB. A DB returned by New runs each call in its own
// statement or transaction; inside InTx the callback gets a DB bound to the transaction.
//
// It may have two pools (see NewSplit): root, where every transaction and every statement
// that writes runs, and read, for plain SELECTs outside transactions. SQLite gives root a
// single connection, so writers queue in database/sql's pool, which honours the caller's
// context deadline, instead of in SQLite's busy handler, and "database is locked" cannot
// happen between our own connections; WAL lets the readers run beside the writer.
type DB struct {
	root    *sqlx.DB
	read    *sqlx.DB        // plain SELECTs outside transactions; root when there is one pool
	ex      sqlx.ExtContext // root or tx: where statements run
	tx      *sqlx.Tx        // non-nil when bound to a transaction
	dialect Dialect
	q       *queries // shared, read-only after New
	now     func() time.Time
	gcCur   *gcCursor // shared by every copy: where housekeeping's grant sweep goes on
	// eventSeq is the last audit event id's time part, shared by every copy (see eventID).
	eventSeq *atomic.Int64
	// Prepared statements of root and read (nil unless the dialect caches statements).
	rootStmts, readStmts *stmtCache
	// closers run at Close, before the pools close (see OnClose).
	closers *[]func() error
	// syncLog makes every commit so far survive a power cut (SQLite's WAL sync); nil when
	// each commit already does (PostgreSQL, SQLite with _sync=FULL). See durable.
	syncLog func(context.Context) error
	// walStats reports SQLite's write-ahead log (SetWALStats); nil for other backends.
	walStats func() WALStats
	// exists, when set (SetExists), answers the hottest existence checks outside a
	// transaction; nil: they run as any other read.
	exists func(ctx context.Context, query string, args ...any) (bool, error)
	// txDurable is set, in a transaction, when it holds a durable write (see durable).
	txDurable *bool
	// writer, when set (ReadOnIdleWriter), is the token of the write pool's one connection:
	// a transaction holds it from BEGIN to COMMIT, and a plain single-row read takes it when
	// it is free and runs on the writer (see get).
	writer chan struct{}
}

var _ storage.Store = (*DB)(nil)

// New wraps an open database whose schema is already migrated, using its pool for
// everything. It panics when the dialect is incomplete: that is a wiring bug, not a runtime
// condition.
func New(db *sqlx.DB, dialect Dialect) *DB {
	return NewSplit(db, db, dialect)
}

// NewSplit is New with a separate pool for reads: write gets every transaction and every
// statement that is not a plain SELECT, read the SELECTs run outside a transaction. Both
// must open the same database. Close closes both.
func NewSplit(write, read *sqlx.DB, dialect Dialect) *DB {
	db := write
	if db == nil || read == nil {
		panic("sqlstore: nil *sqlx.DB")
	}
	if dialect.IsUniqueViolation == nil {
		panic("sqlstore: dialect " + dialect.Name + " has no IsUniqueViolation")
	}
	if dialect.BindType == sqlx.UNKNOWN {
		panic("sqlstore: dialect " + dialect.Name + " has no bind type")
	}
	d := &DB{root: db, read: read, ex: db, dialect: dialect, q: newQueries(dialect), now: time.Now, gcCur: &gcCursor{}, eventSeq: new(atomic.Int64)}
	if dialect.CacheStatements {
		d.rootStmts = newStmtCache(db)
		d.readStmts = d.rootStmts
		if read != db {
			d.readStmts = newStmtCache(read)
		}
	}
	return d
}

// WithClock returns a DB sharing the same connection pool whose wall clock is now. The
// clock is only used by calls that take no now argument (GetAuthRequest's and
// CompleteAuthRequest's expiry checks, default CreatedAt values); tests use it to pin time.
func (d *DB) WithClock(now func() time.Time) *DB {
	c := *d
	c.now = now
	return &c
}

// ReadOnIdleWriter makes plain single-row reads run on the write connection when no
// transaction holds it, instead of on the read pool. SQLite discards a connection's page
// cache whenever another connection has committed since its last read, so under a stream
// of commits nearly every read on the read pool starts from pread calls of each page it
// walks (a refresh token's lookup: about 130 us of a refresh's CPU); the writer's own
// commits leave its cache valid. A read never waits for the writer: when a transaction
// holds it, the read goes to the read pool as before, so reads still run beside the
// writer on several cores. Only for a split DB (NewSplit with two pools); call it before
// the DB is used. A caller holding a connection of SQLX() itself (the seed command) must
// not read through a DB that does this, so the server opts in and the CLI does not.
func (d *DB) ReadOnIdleWriter() {
	if d.read != d.root {
		d.writer = make(chan struct{}, 1)
	}
}

// borrowWriter returns a copy of d whose plain reads run on the write pool, and its release,
// when query is a plain SELECT outside a transaction and the writer is idle.
func (d *DB) borrowWriter(query string) (*DB, func(), bool) {
	if d.writer == nil || d.tx != nil || !isSelect(query) {
		return nil, nil, false
	}
	select {
	case d.writer <- struct{}{}:
	default:
		return nil, nil, false
	}
	w := *d
	w.read, w.readStmts = d.root, d.rootStmts
	return &w, func() { <-d.writer }, true
}

// holdWriter waits for the writer token (ReadOnIdleWriter) and returns its release; a
// transaction holds it so that no read is sent to the connection the transaction has (a
// read through the DB rather than the transaction, by the transaction's own goroutine,
// would otherwise wait for itself).
func (d *DB) holdWriter(ctx context.Context) (func(), error) {
	if d.writer == nil {
		return func() {}, nil
	}
	select {
	case d.writer <- struct{}{}:
		return func() { <-d.writer }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("begin transaction: %w", ctx.Err())
	}
}

// SQLX returns the underlying handle (the write pool when there are two), for health checks,
// migrations and backend-specific tests.
func (d *DB) SQLX() *sqlx.DB { return d.root }

// ReadSQLX returns the pool plain reads use: SQLX() unless the backend opened a separate one.
func (d *DB) ReadSQLX() *sqlx.DB { return d.read }

// Dialect returns the dialect the store was built with.
func (d *DB) Dialect() Dialect { return d.dialect }

// Ping checks that the database answers. It uses the read pool, so that on SQLite a queue
// of writers on the one write connection does not make a healthy database look down.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.read.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", d.dialect.Name, err)
	}
	return nil
}

// WALStats is the state of SQLite's write-ahead log.
type WALStats struct {
	Bytes       int64 // the WAL file's size now
	Checkpoints int64 // checkpoints that copied it into the database
	Rewinds     int64 // checkpoints after which the next commit started it from the beginning
}

// SetWALStats has WALStats report through f; call it before the DB is used.
func (d *DB) SetWALStats(f func() WALStats) { d.walStats = f }

// WALStats reports the write-ahead log, and false for a backend without one to report.
func (d *DB) WALStats() (WALStats, bool) {
	if d.walStats == nil {
		return WALStats{}, false
	}
	return d.walStats(), true
}

// OnClose has Close run f first: a backend's own helpers (SQLite's checkpointer) end with
// the store. Not safe to call concurrently with Close.
func (d *DB) OnClose(f func() error) {
	if d.closers == nil {
		d.closers = &[]func() error{}
	}
	*d.closers = append(*d.closers, f)
}

// Close closes the pool. Calling it on a transaction-bound DB is a bug and fails, rather
// than closing the pool under the transaction.
func (d *DB) Close() error {
	if d.tx != nil {
		return errors.New("close: store is bound to a transaction")
	}
	var err error
	if d.closers != nil {
		for _, f := range *d.closers {
			err = errors.Join(err, f())
		}
	}
	err = errors.Join(err, d.rootStmts.close(), d.readStmts.close())
	err = errors.Join(err, d.root.Close())
	if d.read != d.root {
		err = errors.Join(err, d.read.Close())
	}
	if err != nil {
		return fmt.Errorf("close %s: %w", d.dialect.Name, err)
	}
	return nil
}

// InTx runs fn in one transaction: fn's error (or panic, which propagates) rolls back, nil
// commits. A nested InTx joins the outer transaction, so composite operations stay atomic.
// When the dialect reports the failure as retryable (a PostgreSQL deadlock or serialization
// failure), the whole transaction, fn included, runs again: fn must only touch the store
// and its own variables, not send email or the like.
func (d *DB) InTx(ctx context.Context, fn func(storage.Store) error) error {
	return d.inTx(ctx, func(tx *DB) error { return fn(tx) })
}

// inTx is InTx for internal callers, which need the concrete type. Callers' closures reset
// what they set at the start, because a retried transaction runs them again.
func (d *DB) inTx(ctx context.Context, fn func(tx *DB) error) error {
	if d.tx != nil {
		return fn(d)
	}
	begin, restore := storage.TxAttempts(ctx), func() {}
	for attempt := 1; ; attempt++ {
		switch {
		case begin == nil:
		case attempt == 1:
			restore = begin()
		default:
			restore() // see storage.WithTxAttempts
		}
		err := d.runTx(ctx, fn)
		if err == nil || d.dialect.IsRetryable == nil || !d.dialect.IsRetryable(err) || attempt == txAttempts {
			return err
		}
		// Exponential backoff with full jitter: 0..5ms, 0..10ms, 0..20ms, ...
		wait := time.Duration(rand.Int64N(int64(txBackoffBase << (attempt - 1))))
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// runTx runs fn in one new transaction, then, if it made a durable write, syncs the log
// (outside the writer: commitTx has released it).
func (d *DB) runTx(ctx context.Context, fn func(tx *DB) error) error {
	durable, err := d.commitTx(ctx, fn)
	if err != nil || !durable {
		return err
	}
	return d.syncNow(ctx)
}

// commitTx runs fn in one new transaction and commits it, holding the writer (holdWriter)
// throughout; durable reports a durable write in it.
func (d *DB) commitTx(ctx context.Context, fn func(tx *DB) error) (durable bool, err error) {
	release, err := d.holdWriter(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	tx, err := d.root.BeginTxx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin transaction: %w", err)
	}
	bound := *d
	bound.ex, bound.tx = tx, tx
	bound.txDurable = new(bool)
	finished := false
	defer func() {
		// Also reached when fn panics or calls runtime.Goexit (t.Fatal in a test): the
		// transaction must not outlive the call, or on SQLite it would hold the write lock.
		if !finished {
			_ = tx.Rollback()
		}
	}()
	if err := fn(&bound); err != nil {
		finished = true
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return false, errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
		return false, err
	}
	finished = true
	if err := tx.Commit(); err != nil {
		return false, d.wrap(err, "commit")
	}
	if d.rootStmts != nil {
		d.rootStmts.prepareWanted(ctx)
	}
	return *bound.txDurable, nil
}

// SetExists gives the store a faster way to run the existence checks on its hottest path
// (the denylist): exists reports whether query, a SELECT taking args, returns a row, reading
// the same database as the read pool. Call it before the DB is used.
func (d *DB) SetExists(exists func(ctx context.Context, query string, args ...any) (bool, error)) {
	d.exists = exists
}

// SetLogSync makes the writes that take access away or change credentials (see durable)
// wait for sync, which must make every commit so far survive a power cut. Call it before
// the DB is used.
func (d *DB) SetLogSync(sync func(context.Context) error) { d.syncLog = sync }

// durable finishes a write whose loss would give back what was taken away: a revocation,
// a deleted credential, phone, seat or client, a changed password or key, a used one-time
// token or recovery code. With a
// log synced only periodically (SQLite's default synchronous=NORMAL, whose WAL the
// checkpointer syncs every 250 ms) a power cut could otherwise undo it after the person was
// told it is done. The caller is answered once it is on disk: in a transaction after the
// commit (runTx), outside one now. err is the write's own error, passed through; nothing
// is synced for a failed write. Sessions, codes, tokens and other writes whose loss only
// makes someone sign in again are not durable: the sign-in and token paths do not wait.
func (d *DB) durable(ctx context.Context, err error) error {
	if err != nil || d.syncLog == nil {
		return err
	}
	if d.tx != nil {
		*d.txDurable = true
		return nil
	}
	return d.syncNow(ctx)
}

// syncNow syncs the log. A failure leaves the write committed but not known to be on
// disk: ours to fail, and the caller's retry finds it done.
func (d *DB) syncNow(ctx context.Context) error {
	if d.syncLog == nil {
		return nil
	}
	if err := d.syncLog(ctx); err != nil {
		return fmt.Errorf("sync the log after commit: %w", err)
	}
	return nil
}

// get, sel and exec run a rebound query on the current handle (pool or transaction).
func (d *DB) get(ctx context.Context, dest any, query string, args ...any) error {
	if w, release, ok := d.borrowWriter(query); ok {
		defer release()
		d = w
	}
	if st, err := d.stmt(ctx, query); err != nil || st != nil {
		if err != nil {
			return err
		}
		return st.GetContext(ctx, dest, args...)
	}
	return sqlx.GetContext(ctx, d.queryer(query), dest, query, args...)
}

func (d *DB) sel(ctx context.Context, dest any, query string, args ...any) error {
	if st, err := d.stmt(ctx, query); err != nil || st != nil {
		if err != nil {
			return err
		}
		return st.SelectContext(ctx, dest, args...)
	}
	return sqlx.SelectContext(ctx, d.queryer(query), dest, query, args...)
}

// stmt returns the cached prepared statement for query on the pool it runs on, or nil when
// statements are not cached.
//
// Inside a transaction the pool's statement is bound to the transaction: database/sql reuses
// the statement already prepared on the transaction's connection (on SQLite the one writer,
// where every transaction runs), so a rotation or a sign-in's writes are not compiled anew
// each time (8 % of a refresh grant's CPU). A statement not cached yet cannot be prepared on
// the pool now: the pool's only writer connection is this transaction's. It runs unprepared
// and is prepared once the transaction has ended (runTx).
func (d *DB) stmt(ctx context.Context, query string) (*sqlx.Stmt, error) {
	if d.rootStmts == nil {
		return nil, nil
	}
	if d.tx != nil {
		st := d.rootStmts.peek(query)
		if st == nil {
			d.rootStmts.want(query)
			return nil, nil
		}
		return d.tx.StmtxContext(ctx, st), nil
	}
	if d.read != d.root && isSelect(query) {
		return d.readStmts.get(ctx, query)
	}
	return d.rootStmts.get(ctx, query)
}

// stmtCache keeps statements prepared on one pool, keyed by query text. database/sql
// prepares a cached statement on each of the pool's connections the first time it runs
// there and re-prepares it on a replacement connection, so entries never go stale; SQLite
// recompiles a statement by itself after a schema change. The queries are the store's
// constant strings plus a few built from filters, so the cache stops growing at
// maxCachedStmts and later queries run unprepared.
type stmtCache struct {
	db *sqlx.DB
	mu sync.RWMutex
	m  map[string]*sqlx.Stmt
	// wanted are queries met inside a transaction before they were cached (see DB.stmt).
	wanted map[string]struct{}
}

// peek returns query's statement if it is cached, preparing nothing.
func (c *stmtCache) peek(query string) *sqlx.Stmt {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[query]
}

// want notes query for prepareWanted.
func (c *stmtCache) want(query string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m)+len(c.wanted) >= maxCachedStmts {
		return
	}
	if c.wanted == nil {
		c.wanted = map[string]struct{}{}
	}
	c.wanted[query] = struct{}{}
}

// prepareWanted prepares the wanted queries on the pool. Called outside any transaction of
// this goroutine: it may wait for the pool's connection. A failure leaves the query
// unprepared, to be wanted again.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.RLock()
	none := len(c.wanted) == 0
	c.mu.RUnlock()
	if none {
		return // every commit calls this; almost always nothing is wanted
	}
	c.mu.Lock()
	wanted := c.wanted
	c.wanted = nil
	c.mu.Unlock()
	for q := range wanted {
		_, _ = c.get(ctx, q)
	}
}

const maxCachedStmts = 512

func newStmtCache(db *sqlx.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sqlx.Stmt{}}
}

// get returns query's statement, preparing it on first use; (nil, nil) when the cache is
// full.
func (c *stmtCache) get(ctx context.Context, query string) (*sqlx.Stmt, error) {
	c.mu.RLock()
	st, ok := c.m[query]
	full := c.m == nil || len(c.m) >= maxCachedStmts
	c.mu.RUnlock()
	if ok {
		return st, nil
	}
	if full {
		return nil, nil // full, or closed: run it unprepared (a closed pool fails it anyway)
	}
	// Prepared without the lock held: preparing may wait for a connection, which a
	// transaction may hold while it looks up its own statements (peek).
	st, err := c.db.PreparexContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[query]; ok {
		_ = st.Close() // prepared twice at once: keep the first
		return old, nil
	}
	if c.m == nil || len(c.m) >= maxCachedStmts {
		_ = st.Close()
		return nil, nil
	}
	c.m[query] = st
	return st, nil
}

// close closes every statement; nil-safe, and a second close does nothing.
func (c *stmtCache) close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	for _, st := range c.m {
		err = errors.Join(err, st.Close())
	}
	c.m = nil
	return err
}

// queryer picks where a query runs: the read pool for a plain SELECT outside a transaction,
// else the current handle. Deciding on the statement itself (not on the caller) keeps an
// INSERT ... RETURNING read through get on the writer.
func (d *DB) queryer(query string) sqlx.QueryerContext {
	if d.tx == nil && d.read != d.root && isSelect(query) {
		return d.read
	}
	return d.ex
}

// isSelect reports whether query starts with SELECT (ignoring leading white space and case).
func isSelect(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n")
	return len(q) >= 6 && strings.EqualFold(q[:6], "select")
}

// exec returns the number of rows the statement matched, which the single-use and
// "not found" checks rely on.
func (d *DB) exec(ctx context.Context, query string, args ...any) (int64, error) {
	var res sql.Result
	st, err := d.stmt(ctx, query)
	switch {
	case err != nil:
		return 0, err
	case st != nil:
		res, err = st.ExecContext(ctx, args...)
	default:
		res, err = d.ex.ExecContext(ctx, query, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// wrap prefixes err with the operation and maps driver errors onto the storage sentinels:
// sql.ErrNoRows becomes ErrNotFound and a unique violation ErrConflict (the driver error is
// kept in the chain for its detail). Errors that already carry a sentinel, or that came from
// a caller's closure, are only prefixed.
func (d *DB) wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	op := fmt.Sprintf(format, args...)
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrConflict),
		errors.Is(err, storage.ErrAlreadyUsed), errors.Is(err, storage.ErrExpired),
		errors.Is(err, storage.ErrRevoked):
		return fmt.Errorf("%s: %w", op, err)
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", op, storage.ErrNotFound)
	case d.dialect.IsUniqueViolation(err):
		return fmt.Errorf("%s: %w: %w", op, storage.ErrConflict, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// one turns "the statement matched no row" into ErrNotFound.
func one(n int64, err error) error {
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// clockNow is the store's wall clock in UTC, for calls that take no now argument.
func (d *DB) clockNow() time.Time { return d.now().UTC() }

// queries holds every statement, rebound for the dialect once in New so no call pays for
// placeholder rewriting.
type queries struct {
	users    userSQL
	clients  clientSQL
	authReqs authRequestSQL
	sessions sessionSQL
	tokens   tokenSQL
	consents consentSQL
	keys     keySQL
	gc       gcSQL
	oneTime  oneTimeSQL
	counters counterSQL
	audit    auditSQL
	mfa      mfaSQL
	devices  deviceCodeSQL
	outbox   outboxSQL
}

func newQueries(d Dialect) *queries {
	rb := func(q string) string { return sqlx.Rebind(d.BindType, q) }
	return &queries{
		users:    newUserSQL(rb, d.ForUpdate, d.LockRow),
		clients:  newClientSQL(rb, d.ForUpdate, d.LockRow),
		authReqs: newAuthRequestSQL(rb),
		sessions: newSessionSQL(rb, d.ForUpdate),
		tokens:   newTokenSQL(rb),
		consents: newConsentSQL(rb),
		keys:     newKeySQL(rb, d.ForUpdate),
		gc:       newGCSQL(rb),
		oneTime:  newOneTimeSQL(rb),
		counters: newCounterSQL(rb),
		audit:    newAuditSQL(rb),
		mfa:      newMFASQL(rb, d.ForUpdate),
		devices:  newDeviceCodeSQL(rb, d.ForUpdate),
		outbox:   newOutboxSQL(rb),
	}
}
