package sqlite

import (
	"context"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// checkpointEvery is how often the background checkpointer copies the WAL into the database
// file. At a few thousand small transactions a second the WAL grows by a few MB in between.
const checkpointEvery = 250 * time.Millisecond

// checkpointer moves WAL checkpoints out of the write path. SQLite's automatic checkpoint
// runs inside the COMMIT that crosses 1,000 WAL pages: that commit copies the pages into the
// database file and syncs it while holding the one write connection, so every writer queued
// behind it waits, and on a one-core server the core idles through the sync (an ES256
// refresh load kept the core 82-86 % busy; with this, 98-99 %, and 11-20 % more refreshes a
// second, docs/sizing.md). The write connection has wal_autocheckpoint=0 and this goroutine
// runs PASSIVE checkpoints on a connection of its own, which never wait for readers or the
// writer. Each checkpoint first syncs the WAL (also with synchronous=NORMAL, the default):
// this period is what bounds the commits a power cut can undo (see buildDSN).
type checkpointer struct {
	db   *sqlx.DB
	stop context.CancelFunc
	done sync.WaitGroup
}

// checkpointGiveUp is how many checkpoints in a row may fail before the writer checkpoints
// by itself again (a WAL that is never copied back grows without bound).
const checkpointGiveUp = 20

// startCheckpointer opens one connection with dsn, turns the automatic checkpoint of the
// write pool (one connection) off, and checkpoints until close.
func startCheckpointer(ctx context.Context, dsn string, write *sqlx.DB) (*checkpointer, error) {
	db, err := sqlx.Open("sqlite3", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := write.ExecContext(ctx, "PRAGMA wal_autocheckpoint=0"); err != nil {
		db.Close()
		return nil, err
	}
	run, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, stop: cancel}
	c.done.Go(func() {
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		failed := 0
		for {
			select {
			case <-run.Done():
				return
			case <-t.C:
			}
			// A failure leaves the pages in the WAL, where readers find them; the next tick
			// tries again, and after checkpointGiveUp in a row the writer takes over.
			if _, err := db.ExecContext(run, "PRAGMA wal_checkpoint(PASSIVE)"); err == nil {
				failed = 0
			} else if failed++; failed >= checkpointGiveUp {
				if _, err := write.ExecContext(run, "PRAGMA wal_autocheckpoint=1000"); err == nil {
					return
				}
			}
		}
	})
	return c, nil
}

// close stops the goroutine, runs a last checkpoint and closes the connection.
func (c *checkpointer) close() error {
	c.stop()
	c.done.Wait()
	_, _ = c.db.Exec("PRAGMA wal_checkpoint(PASSIVE)")
	return c.db.Close()
}
