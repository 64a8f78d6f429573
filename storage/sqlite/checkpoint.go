package sqlite

/*
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

// The SQLite that github.com/mattn/go-sqlite3 links into the binary (its amalgamation, or the
// system library with the libsqlite3 build tag); declared here rather than included, as the
// header lives in that module.
typedef struct sqlite3 sqlite3;
int sqlite3_open_v2(const char *filename, sqlite3 **db, int flags, const char *vfs);
int sqlite3_close_v2(sqlite3 *db);
int sqlite3_exec(sqlite3 *db, const char *sql, void *callback, void *arg, char **errmsg);
int sqlite3_wal_checkpoint_v2(sqlite3 *db, const char *schema, int mode, int *log, int *ckpt);
int sqlite3_busy_handler(sqlite3 *db, int (*handler)(void *, int), void *arg);

enum { ck_open_readwrite = 0x2, ck_open_fullmutex = 0x10000, ck_passive_mode = 0, ck_restart_mode = 2 };

typedef struct {
	sqlite3 *db;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	long period_ms;
	int restart_frames; // a log this long after a checkpoint is to be rewound (0: never)
	int give_up;  // failures in a row after which the thread stops
	int busy_polls; // how many times a RESTART looks again for the write lock or readers
	int stop;     // under mu
	int asked;    // under mu: a checkpoint Go asks for now (ck_ask)
	int gave_up;  // atomic: the thread stopped after give_up failures
	int want_restart; // atomic: the log is past restart_frames
	int rewound_at; // the thread's: the log's length at the last RESTART
	int sync_wal; // Go syncs the WAL when a checkpoint could not (see ck_passive)
	long long synced_version; // the thread's: data_version whose commits are known synced
	int want_sync; // atomic: commits are in the WAL that no sync is known to cover
	long long runs;    // atomic: PASSIVE checkpoints that succeeded
	long long restarts; // atomic: RESTART checkpoints that succeeded
	long long answered; // atomic: checkpoints asked for and run, done or not
} ck_state;

static int ck_version_row(void *out, int n, char **vals, char **names) {
	if (n > 0 && vals[0]) *(long long *)out = strtoll(vals[0], 0, 10);
	return 0;
}

// ck_data_version is PRAGMA data_version on the thread's connection, which changes whenever
// another connection has committed; -1 when it cannot be read.
static long long ck_data_version(ck_state *c) {
	long long v = -1;
	if (sqlite3_exec(c->db, "PRAGMA data_version", (void *)ck_version_row, &v, 0) != 0) return -1;
	return v;
}

// ck_passive copies the log into the database; it waits for no one. SQLite syncs the log
// only before copying frames, so a checkpoint held back by a long read (a backup) that
// copies nothing syncs nothing, and commits after the sync of a partial copy are not
// covered either: then, if anything was committed since the last known sync, want_sync
// asks Go to sync the log (walSync), or the commits of a long read's duration could be lost
// to a power cut.
static int ck_passive(ck_state *c) {
	int log = 0, ckpt = 0;
	long long version = c->sync_wal ? ck_data_version(c) : -1; // before: later commits count as new
	int rc = sqlite3_wal_checkpoint_v2(c->db, 0, ck_passive_mode, &log, &ckpt);
	if (rc != 0) return rc;
	__atomic_add_fetch(&c->runs, 1, __ATOMIC_SEQ_CST);
	if (version >= 0 && version != c->synced_version) {
		// Every frame copied was synced before it was copied: a fully copied log is on disk.
		if (ckpt < log) __atomic_store_n(&c->want_sync, 1, __ATOMIC_SEQ_CST);
		c->synced_version = version;
	}
	// A log still as long as at the last RESTART has not been written to since: the next
	// commit rewinds it, and another RESTART would have nothing to do.
	if (c->restart_frames > 0 && log >= c->restart_frames && log != c->rewound_at)
		__atomic_store_n(&c->want_restart, 1, __ATOMIC_SEQ_CST);
	return 0;
}

// ck_restart_now copies what is left and waits for the readers still in the log, so that
// the next commit rewinds it. Go holds the write connection meanwhile (checkpointer.rewind).
static void ck_restart_now(ck_state *c) {
	int log = 0;
	if (sqlite3_wal_checkpoint_v2(c->db, 0, ck_restart_mode, &log, 0) == 0) {
		c->rewound_at = log;
		__atomic_add_fetch(&c->restarts, 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&c->want_restart, 0, __ATOMIC_SEQ_CST);
	}
}

static void *ck_loop(void *arg) {
	ck_state *c = arg;
	int failed = 0;
	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until); // cond's clock (ck_start): a wall-clock step must not stall it
		until.tv_sec += c->period_ms / 1000;
		until.tv_nsec += (c->period_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!c->stop && !c->asked && pthread_cond_timedwait(&c->cond, &c->mu, &until) != ETIMEDOUT) {
		}
		if (c->stop) break;
		int asked = c->asked;
		c->asked = 0;
		pthread_mutex_unlock(&c->mu);
		if (asked == ck_restart_mode + 1) {
			ck_restart_now(c);
			__atomic_add_fetch(&c->answered, 1, __ATOMIC_SEQ_CST);
		} else if (asked) {
			ck_passive(c);
			__atomic_add_fetch(&c->answered, 1, __ATOMIC_SEQ_CST);
		} else if (ck_passive(c) == 0) {
			failed = 0;
		} else if (++failed >= c->give_up) {
			__atomic_store_n(&c->gave_up, 1, __ATOMIC_SEQ_CST);
			return 0;
		}
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return 0;
}

// ck_ask has the thread run a checkpoint of mode now (ck_passive_mode or ck_restart_mode).
static void ck_ask(ck_state *c, int mode) {
	pthread_mutex_lock(&c->mu);
	c->asked = mode + 1;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->mu);
}

// ck_busy is the connection's busy handler: it looks again every 100 us, for the readers a
// RESTART waits for leave the log within microseconds, where SQLite's own handler sleeps 1,
// 2, 5, 10 ms ... (while Go holds the writer). The RESTART's hold is mostly its syncs.
static int ck_busy(void *arg, int n) {
	ck_state *c = arg;
	if (n >= c->busy_polls) return 0;
	struct timespec d = {0, 100000};
	nanosleep(&d, 0);
	return 1;
}

// ck_start opens path, runs pragma on it, and starts the thread. It returns 0, or the
// SQLite (or pthread) error code, having freed everything.
static int ck_start(const char *path, const char *pragma, long period_ms, int restart_frames, int busy_ms, int give_up, int sync_wal, ck_state **out) {
	ck_state *c = calloc(1, sizeof *c);
	if (!c) return ENOMEM;
	c->period_ms = period_ms;
	c->restart_frames = restart_frames;
	c->give_up = give_up;
	c->sync_wal = sync_wal;
	c->synced_version = -1;
	int rc = sqlite3_open_v2(path, &c->db, ck_open_readwrite | ck_open_fullmutex, 0);
	c->busy_polls = busy_ms * 10;
	if (rc == 0) rc = sqlite3_busy_handler(c->db, ck_busy, c);
	if (rc == 0) rc = sqlite3_exec(c->db, pragma, 0, 0, 0);
	if (rc != 0) {
		sqlite3_close_v2(c->db);
		free(c);
		return rc;
	}
	// The thread's timed wait measures on the monotonic clock: on the default (wall) clock
	// a step back of the system time would stop checkpoints and syncs for as long.
	pthread_condattr_t attr;
	rc = pthread_condattr_init(&attr);
	if (rc == 0) {
		rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		if (rc == 0) rc = pthread_cond_init(&c->cond, &attr);
		pthread_condattr_destroy(&attr);
	}
	if (rc != 0) {
		sqlite3_close_v2(c->db);
		free(c);
		return rc;
	}
	pthread_mutex_init(&c->mu, 0);
	rc = pthread_create(&c->thread, 0, ck_loop, c);
	if (rc != 0) {
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cond);
		sqlite3_close_v2(c->db);
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

// ck_stop stops and joins the thread, checkpoints a last time, closes and frees; runs and
// restarts, when not null, get the final counts.
static int ck_stop(ck_state *c, long long *runs, long long *restarts) {
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, 0);
	int rc = ck_passive(c);
	if (runs) *runs = c->runs;
	if (restarts) *restarts = c->restarts;
	sqlite3_close_v2(c->db);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cond);
	free(c);
	return rc;
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/jmoiron/sqlx"
)

// checkpointConfig says how the background checkpointer works.
type checkpointConfig struct {
	// every is how often it copies the WAL into the database file. At a few thousand small
	// transactions a second the WAL grows by a few MB in between.
	every time.Duration
	// restartFrames is the WAL length (in pages) from which the WAL is rewound (see
	// checkpointer); 0 never does. walLimit is what the WAL file is cut back to when
	// rewound (the writer's journal_size_limit), should it have grown past that meanwhile.
	restartFrames int
	walLimit      int64
	// restartWait bounds how long a rewinding checkpoint waits for the readers still in the
	// WAL (and for a writer in another process): its busy handler's budget (ck_busy).
	restartWait time.Duration
}

// defaultCheckpoints is the server's configuration: 16,384 pages is 64 MiB at SQLite's 4 KiB
// pages, about 1.3 s of a refresh load on one core (a quarter of that held the writer half
// as long, twice as often, and doubled the refresh p99; docs/sizing-journal.md).
func defaultCheckpoints() checkpointConfig {
	return checkpointConfig{
		every:         250 * time.Millisecond,
		restartFrames: 16384,
		walLimit:      128 << 20,
		restartWait:   100 * time.Millisecond,
	}
}

// checkpointer moves WAL checkpoints out of the write path. SQLite's automatic checkpoint
// runs inside the COMMIT that crosses 1,000 WAL pages: that commit copies the pages into the
// database file and syncs it while holding the one write connection, so every writer queued
// behind it waits, and on a one-core server the core idles through the sync (an ES256
// refresh load kept the core 82-86 % busy; with a checkpointer beside the writer, 98-99 %,
// and 11-20 % more refreshes a second, docs/sizing-journal.md). The write connection has
// wal_autocheckpoint=0 and the checkpointer runs PASSIVE checkpoints on a connection of its
// own, which never wait for readers or the writer. Each checkpoint first syncs the WAL (also
// with synchronous=NORMAL, the default): this period is what bounds the commits a power cut
// can undo (see buildDSN). A checkpoint that a long read (a backup) keeps from copying
// syncs nothing, so then the checkpointer syncs the WAL itself (ck_passive, walSync).
//
// A PASSIVE checkpoint copies the WAL but never rewinds it: only a writer does, at the start
// of a transaction that finds the whole WAL copied and no reader in it, and beside a steady
// stream of commits the writer has always appended again by then. The WAL then grew without
// bound: 36 MB a second under a refresh load, 320 MB in 8 s, every page read searching a
// longer WAL index and every commit extending the file. So once the WAL is restartFrames
// long, the thread runs a PASSIVE checkpoint at once, then a goroutine takes the write
// connection (writers queue behind it in Go, under their deadlines, not in SQLite's busy
// handler, which sleeps 1, 2, 5, 10 ms ...) and the thread runs a RESTART checkpoint: it
// copies the little that was committed since, syncs, and waits for the readers still in
// the WAL, so the next commit starts it again from the beginning. The first PASSIVE leaves
// the RESTART less to copy; what it holds the writer for is mostly its syncs (29-45 ms on
// this project's virtual disks under a refresh load).
//
// The checkpoints run on a thread of their own, started in C, not on a goroutine: a
// goroutine in a cgo call keeps its P (Go's right to run Go code) until sysmon notices, which
// can take up to 10 ms when sysmon has backed off, and a checkpoint spends milliseconds in
// fsync and in writes that wait for writeback. With GOMAXPROCS=1 (a server on one core) the
// core then idled while requests were waiting: 2-4 % of a sign-in load's time in `iowait`,
// with no other thread runnable (docs/sizing-journal.md, "What changed: checkpoints on a C
// thread"). The goroutine reads the thread's counters from C memory without a cgo call.
type checkpointer struct {
	stop context.CancelFunc
	done sync.WaitGroup
	once sync.Once

	mu    sync.RWMutex // c, and the counts it had, which close keeps when it frees c
	c     *C.ck_state
	final struct{ runs, restarts int64 }
}

// checkpointGiveUp is how many checkpoints in a row may fail before the writer checkpoints
// by itself again (a WAL that is never copied back grows without bound).
const checkpointGiveUp = 20

// startCheckpointer opens a connection to file with the writer's synchronous level, turns
// the automatic checkpoint of the write pool (one connection) off, and checkpoints on its
// thread until close. A goroutine holds the write connection for the RESTARTs, and watches
// for the thread giving up, to give the checkpoints back to the writer. syncLog (nil: none)
// syncs the WAL when a checkpoint could not (ck_passive); with synchronous=NORMAL the
// checkpoints' syncs are what bound the commits a power cut can undo.
func startCheckpointer(ctx context.Context, file string, synchronous int, write *sqlx.DB, cfg checkpointConfig, syncLog func(context.Context) error) (*checkpointer, error) {
	path := C.CString(file)
	defer C.free(unsafe.Pointer(path))
	pragma := C.CString(fmt.Sprintf("PRAGMA synchronous=%d", synchronous))
	defer C.free(unsafe.Pointer(pragma))
	var c *C.ck_state
	if rc := C.ck_start(path, pragma, C.long(cfg.every/time.Millisecond), C.int(cfg.restartFrames),
		C.int(cfg.restartWait/time.Millisecond), checkpointGiveUp, C.int(boolInt(syncLog != nil)), &c); rc != 0 {
		return nil, fmt.Errorf("start the checkpointer: error %d", int(rc))
	}
	pragmas := []string{"PRAGMA wal_autocheckpoint=0"}
	if cfg.walLimit > 0 {
		pragmas = append(pragmas, fmt.Sprintf("PRAGMA journal_size_limit=%d", cfg.walLimit))
	}
	for _, p := range pragmas {
		if _, err := write.ExecContext(ctx, p); err != nil {
			C.ck_stop(c, nil, nil)
			err = fmt.Errorf("start the checkpointer: %w", err)
			// Without the checkpointer the writer must checkpoint again (SQLite's default),
			// or the WAL would never be copied back.
			if _, rerr := write.ExecContext(context.WithoutCancel(ctx), "PRAGMA wal_autocheckpoint=1000"); rerr != nil {
				err = errors.Join(err, fmt.Errorf("restore wal_autocheckpoint: %w", rerr))
			}
			return nil, err
		}
	}
	run, cancel := context.WithCancel(context.Background())
	ck := &checkpointer{c: c, stop: cancel}
	ck.done.Go(func() {
		// A quarter period: a sync the thread asks for (want_sync) follows its checkpoint
		// closely, so a commit is on disk within about a period and a quarter.
		t := time.NewTicker(cfg.every / 4)
		defer t.Stop()
		// After a RESTART that could not finish (a long read, such as a backup, kept the WAL
		// in use), the next waits: each holds the writer for up to restartWait.
		var notBefore time.Time
		backoff := time.Second
		for {
			select {
			case <-run.Done():
				return
			case <-t.C:
			}
			if syncLog != nil && atomic.SwapInt32(int32At(&c.want_sync), 0) != 0 {
				if err := syncLog(run); err != nil {
					atomic.StoreInt32(int32At(&c.want_sync), 1) // the next tick tries again
				}
			}
			if atomic.LoadInt32(int32At(&c.gave_up)) != 0 {
				// The pages stay in the WAL, where readers find them; the writer takes over.
				if _, err := write.ExecContext(run, "PRAGMA wal_autocheckpoint=1000"); err == nil {
					return
				}
				continue
			}
			if atomic.LoadInt32(int32At(&c.want_restart)) != 0 && !time.Now().Before(notBefore) {
				if ck.rewind(run, write, cfg.restartWait) {
					backoff = time.Second
				} else {
					notBefore = time.Now().Add(backoff)
					backoff = min(2*backoff, 30*time.Second)
				}
			}
		}
	})
	return ck, nil
}

// rewind has the thread copy the WAL, then holds the write connection while the thread runs
// a RESTART checkpoint, and reports whether that succeeded.
func (ck *checkpointer) rewind(ctx context.Context, write *sqlx.DB, wait time.Duration) bool {
	ck.ask(ctx, C.ck_passive_mode, wait)
	conn, err := write.Conn(ctx)
	if err != nil {
		return false // closing
	}
	defer conn.Close()
	before := ck.restarts()
	ck.ask(ctx, C.ck_restart_mode, wait)
	return ck.restarts() > before
}

// ask has the thread run a checkpoint of mode and waits for it, for at most wait and a
// second (a checkpoint that finds another process writing gives up after wait).
func (ck *checkpointer) ask(ctx context.Context, mode C.int, wait time.Duration) {
	answered := int64At(&ck.c.answered)
	before := atomic.LoadInt64(answered)
	C.ck_ask(ck.c, mode)
	for end := time.Now().Add(wait + time.Second); atomic.LoadInt64(answered) == before && time.Now().Before(end) && ctx.Err() == nil; {
		time.Sleep(100 * time.Microsecond)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// int32At and int64At turn a field of the C state into a pointer for sync/atomic, which the
// C side updates with __atomic builtins: C memory, so Go may read it without a cgo call.
func int32At(p *C.int) *int32      { return (*int32)(unsafe.Pointer(p)) }
func int64At(p *C.longlong) *int64 { return (*int64)(unsafe.Pointer(p)) }

// counts is how many PASSIVE checkpoints have succeeded, and how many checkpoints have made
// the WAL start again.
func (ck *checkpointer) counts() (runs, restarts int64) {
	ck.mu.RLock()
	defer ck.mu.RUnlock()
	if ck.c == nil {
		return ck.final.runs, ck.final.restarts
	}
	return atomic.LoadInt64(int64At(&ck.c.runs)), atomic.LoadInt64(int64At(&ck.c.restarts))
}

func (ck *checkpointer) runs() int64     { n, _ := ck.counts(); return n }
func (ck *checkpointer) restarts() int64 { _, n := ck.counts(); return n }

// close stops the thread and the watcher, runs a last checkpoint and closes the connection
// (once). A last checkpoint that fails leaves the pages in the WAL, which SQLite copies back
// when the last connection closes or the next one opens.
func (ck *checkpointer) close() error {
	ck.once.Do(func() {
		ck.stop()
		ck.done.Wait()
		ck.mu.Lock()
		defer ck.mu.Unlock()
		var runs, restarts C.longlong
		C.ck_stop(ck.c, &runs, &restarts)
		ck.final.runs, ck.final.restarts = int64(runs), int64(restarts)
		ck.c = nil
	})
	return nil
}
