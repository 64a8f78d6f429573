package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
)

// walSync makes the commits written so far survive a power cut by syncing the WAL file,
// for the writes that must (sqlstore's durable: revocations, credential changes). With
// synchronous=NORMAL a commit returns once its frames are written to the WAL, which
// SQLite syncs only when it checkpoints; FULL would sync inside every commit, 1.8 ms each
// on the single writer (README). Here the writer does not wait: the caller does, after its
// commit, and every caller that arrives while a sync runs shares the next one (group
// commit), so a burst of revocations costs a couple of syncs, not one each.
//
// Syncing a file descriptor of our own works because fsync flushes the file, not the
// descriptor's writes; the WAL is the same file for as long as the database is open (SQLite
// rewinds it after a checkpoint but deletes it only when the last connection closes). A
// replaced file (another process closed the database last and opened it again) is noticed
// by its identity and reopened.
type walSync struct {
	path string // the database file; the WAL is path + "-wal"

	mu      sync.Mutex
	next    *syncRound // the round callers join now; it starts after they joined
	running bool       // a goroutine is running rounds

	fileMu sync.Mutex // f and fi: the rounds' goroutine and close
	f      *os.File
	fi     fs.FileInfo

	// fsync is f.Sync; tests count it.
	fsync func(*os.File) error
}

type syncRound struct {
	done chan struct{}
	err  error
}

func newWALSync(dbPath string) *walSync {
	return &walSync{path: dbPath, fsync: (*os.File).Sync}
}

// sync returns once every commit made before the call is on disk, or ctx ends.
func (w *walSync) sync(ctx context.Context) error {
	w.mu.Lock()
	r := w.next
	if r == nil {
		r = &syncRound{done: make(chan struct{})}
		w.next = r
	}
	if !w.running {
		w.running = true
		go w.rounds()
	}
	w.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return fmt.Errorf("sync the WAL: %w", ctx.Err())
	}
}

// rounds runs one sync per round until no caller is waiting. A round is taken out of next
// before its sync starts, so whoever joined it had committed before the sync began.
func (w *walSync) rounds() {
	for {
		w.mu.Lock()
		r := w.next
		if r == nil {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.next = nil
		w.mu.Unlock()
		r.err = w.syncFile()
		close(r.done)
	}
}

// syncFile syncs the WAL (opening it, or again when it was replaced), or the database file
// when there is no WAL (everything in it was checkpointed and the file removed).
func (w *walSync) syncFile() error {
	w.fileMu.Lock()
	defer w.fileMu.Unlock()
	wal := w.path + "-wal"
	fi, err := os.Stat(wal)
	if errors.Is(err, fs.ErrNotExist) {
		return w.syncPath(w.path)
	}
	if err != nil {
		return fmt.Errorf("sync the WAL: %w", err)
	}
	if w.f == nil || !os.SameFile(fi, w.fi) {
		if w.f != nil {
			w.f.Close()
		}
		f, err := os.Open(wal)
		if err != nil {
			w.f = nil
			return fmt.Errorf("sync the WAL: %w", err)
		}
		w.f, w.fi = f, fi
	}
	if err := w.fsync(w.f); err != nil {
		return fmt.Errorf("sync the WAL: %w", err)
	}
	return nil
}

func (w *walSync) syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sync the database: %w", err)
	}
	defer f.Close()
	if err := w.fsync(f); err != nil {
		return fmt.Errorf("sync the database: %w", err)
	}
	return nil
}

// close releases the WAL's descriptor; the store calls it once no write can run.
func (w *walSync) close() error {
	w.fileMu.Lock()
	defer w.fileMu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
