package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// pointReads answers the hottest existence check, the denylist that every introspection of
// a stateless token reads, on read-only connections of its own driven through the driver.
// Through database/sql and sqlx the same read cost twice as much (6 µs and 22 allocations
// against 3 µs and 3, BenchmarkAccessTokenDenied*): a cancellable context costs a watcher
// per query in database/sql and another in the driver, and sqlx scans through reflection.
//
// The caller's context bounds the wait for a connection. Once it has one, the statement
// runs without watching the context: a read in WAL mode does not wait for the writer, and
// what it can wait for (a WAL being recovered by another process) is bounded by the
// connection's busy_timeout, as a read on the read pool is.
type pointReads struct {
	open func() (*sqlite3.SQLiteConn, error)

	idle  chan *pointConn // connections not in use
	slots chan struct{}   // a token per connection open or being opened

	mu   sync.Mutex    // orders put against close, so that no connection is left idle after it
	done chan struct{} // closed by close: waiters for a connection give up
}

// pointConn is one connection with the statements prepared on it, by query.
type pointConn struct {
	c     *sqlite3.SQLiteConn
	stmts map[string]driver.StmtQueryContext
	// args and dest are reused: a connection serves one read at a time.
	args []driver.NamedValue
	dest []driver.Value
}

var errPointReadsClosed = errors.New("sqlite: database closed")

// newPointReads reads on at most n connections opened with dsn (a read-only one).
func newPointReads(dsn string, n int) *pointReads {
	drv := &sqlite3.SQLiteDriver{}
	return &pointReads{
		open: func() (*sqlite3.SQLiteConn, error) {
			c, err := drv.Open(dsn)
			if err != nil {
				return nil, err
			}
			return c.(*sqlite3.SQLiteConn), nil
		},
		idle:  make(chan *pointConn, n),
		slots: make(chan struct{}, n),
		done:  make(chan struct{}),
	}
}

// exists reports whether query, a SELECT, returns a row for args.
func (p *pointReads) exists(ctx context.Context, query string, args ...any) (bool, error) {
	pc, err := p.get(ctx)
	if err != nil {
		return false, err
	}
	found, err := pc.exists(query, args)
	if err != nil {
		// The connection may be what failed; a new one is opened on demand.
		p.discard(pc)
		return false, err
	}
	p.put(pc)
	return found, nil
}

func (c *pointConn) exists(query string, args []any) (bool, error) {
	st, ok := c.stmts[query]
	if !ok {
		s, err := c.c.Prepare(query)
		if err != nil {
			return false, fmt.Errorf("prepare: %w", err)
		}
		st = s.(driver.StmtQueryContext)
		c.stmts[query] = st
	}
	c.args = c.args[:0]
	for i, a := range args {
		c.args = append(c.args, driver.NamedValue{Ordinal: i + 1, Value: a})
	}
	// A context that cannot be cancelled: the driver starts no watcher for it (see above).
	rows, err := st.QueryContext(context.Background(), c.args)
	if err != nil {
		return false, err
	}
	c.dest = slices.Grow(c.dest[:0], len(rows.Columns()))[:len(rows.Columns())]
	err = rows.Next(c.dest)
	cerr := rows.Close()
	clear(c.dest) // keep nothing of this read
	clear(c.args)
	switch {
	case errors.Is(err, io.EOF):
		return false, cerr
	case err != nil:
		return false, err
	}
	return true, cerr
}

// get returns an idle connection, opens one if fewer than n are open, or waits for one.
func (p *pointReads) get(ctx context.Context) (*pointConn, error) {
	select {
	case <-p.done:
		return nil, errPointReadsClosed
	case pc := <-p.idle:
		return pc, nil
	default:
	}
	select {
	case pc := <-p.idle:
		return pc, nil
	case p.slots <- struct{}{}:
		c, err := p.open()
		if err != nil {
			<-p.slots
			return nil, fmt.Errorf("open a connection: %w", err)
		}
		return &pointConn{c: c, stmts: map[string]driver.StmtQueryContext{}}, nil
	case <-p.done:
		return nil, errPointReadsClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a connection: %w", ctx.Err())
	}
}

// put gives pc back, or closes it once the pool is closed.
func (p *pointReads) put(pc *pointConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		pc.close()
	default:
		p.idle <- pc // never blocks: at most n connections exist
	}
}

// discard closes pc and frees its slot.
func (p *pointReads) discard(pc *pointConn) {
	pc.close()
	<-p.slots
}

func (pc *pointConn) close() {
	for _, st := range pc.stmts {
		st.(driver.Stmt).Close()
	}
	pc.c.Close()
}

// close closes the idle connections now and the others when they are given back.
func (p *pointReads) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return nil
	default:
	}
	close(p.done)
	for {
		select {
		case pc := <-p.idle:
			pc.close()
		default:
			return nil
		}
	}
}
