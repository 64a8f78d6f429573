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

enum { ck_open_readwrite = 0x2, ck_open_fullmutex = 0x10000, ck_passive = 0 };

typedef struct {
	sqlite3 *db;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	long period_ms;
	int give_up;  // failures in a row after which the thread stops
	int stop;     // under mu
	int gave_up;  // atomic: the thread stopped after give_up failures
	long runs;    // atomic: checkpoints that succeeded
} ck_state;

static int ck_checkpoint(ck_state *c) {
	int rc = sqlite3_wal_checkpoint_v2(c->db, 0, ck_passive, 0, 0);
	if (rc == 0) __atomic_add_fetch(&c->runs, 1, __ATOMIC_SEQ_CST);
	return rc;
}

static void *ck_loop(void *arg) {
	ck_state *c = arg;
	int failed = 0;
	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += c->period_ms / 1000;
		until.tv_nsec += (c->period_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!c->stop && pthread_cond_timedwait(&c->cond, &c->mu, &until) != ETIMEDOUT) {
		}
		if (c->stop) break;
		pthread_mutex_unlock(&c->mu);
		if (ck_checkpoint(c) == 0) {
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

// ck_start opens path, runs pragma on it, and starts the thread. It returns 0, or the
// SQLite (or pthread) error code, having freed everything.
static int ck_start(const char *path, const char *pragma, long period_ms, int give_up, ck_state **out) {
	ck_state *c = calloc(1, sizeof *c);
	if (!c) return ENOMEM;
	c->period_ms = period_ms;
	c->give_up = give_up;
	int rc = sqlite3_open_v2(path, &c->db, ck_open_readwrite | ck_open_fullmutex, 0);
	if (rc == 0) rc = sqlite3_exec(c->db, pragma, 0, 0, 0);
	if (rc != 0) {
		sqlite3_close_v2(c->db);
		free(c);
		return rc;
	}
	pthread_mutex_init(&c->mu, 0);
	pthread_cond_init(&c->cond, 0);
	rc = pthread_create(&c->thread, 0, ck_loop, c);
	if (rc != 0) {
		sqlite3_close_v2(c->db);
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

static int ck_gave_up(ck_state *c) { return __atomic_load_n(&c->gave_up, __ATOMIC_SEQ_CST); }
static long ck_runs(ck_state *c) { return __atomic_load_n(&c->runs, __ATOMIC_SEQ_CST); }

// ck_stop stops and joins the thread, checkpoints a last time, closes and frees.
static int ck_stop(ck_state *c) {
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, 0);
	int rc = ck_checkpoint(c);
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
	"fmt"
	"sync"
	"time"
	"unsafe"

	"github.com/jmoiron/sqlx"
)

// checkpointEvery is how often the background checkpointer copies the WAL into the database
// file. At a few thousand small transactions a second the WAL grows by a few MB in between.
const checkpointEvery = 250 * time.Millisecond

// checkpointer moves WAL checkpoints out of the write path. SQLite's automatic checkpoint
// runs inside the COMMIT that crosses 1,000 WAL pages: that commit copies the pages into the
// database file and syncs it while holding the one write connection, so every writer queued
// behind it waits, and on a one-core server the core idles through the sync (an ES256
// refresh load kept the core 82-86 % busy; with a checkpointer beside the writer, 98-99 %,
// and 11-20 % more refreshes a second, docs/sizing.md). The write connection has
// wal_autocheckpoint=0 and the checkpointer runs PASSIVE checkpoints on a connection of its
// own, which never wait for readers or the writer. Each checkpoint first syncs the WAL (also
// with synchronous=NORMAL, the default): this period is what bounds the commits a power cut
// can undo (see buildDSN).
//
// The checkpoints run on a thread of their own, started in C, not on a goroutine: a
// goroutine in a cgo call keeps its P (Go's right to run Go code) until sysmon notices, which
// can take up to 10 ms when sysmon has backed off, and a checkpoint spends milliseconds in
// fsync and in writes that wait for writeback. With GOMAXPROCS=1 (a server on one core) the
// core then idled while requests were waiting: 2-4 % of a sign-in load's time in `iowait`,
// with no other thread runnable (docs/sizing.md, "The checkpointer's thread").
type checkpointer struct {
	c    *C.ck_state
	stop context.CancelFunc
	done sync.WaitGroup
	once sync.Once
}

// checkpointGiveUp is how many checkpoints in a row may fail before the writer checkpoints
// by itself again (a WAL that is never copied back grows without bound).
const checkpointGiveUp = 20

// startCheckpointer opens a connection to file with the writer's synchronous level, turns
// the automatic checkpoint of the write pool (one connection) off, and checkpoints on its
// thread until close. A goroutine watches for the thread giving up, to give the checkpoints
// back to the writer.
func startCheckpointer(ctx context.Context, file string, synchronous int, write *sqlx.DB) (*checkpointer, error) {
	path := C.CString(file)
	defer C.free(unsafe.Pointer(path))
	pragma := C.CString(fmt.Sprintf("PRAGMA synchronous=%d", synchronous))
	defer C.free(unsafe.Pointer(pragma))
	var c *C.ck_state
	if rc := C.ck_start(path, pragma, C.long(checkpointEvery/time.Millisecond), checkpointGiveUp, &c); rc != 0 {
		return nil, fmt.Errorf("start the checkpointer: error %d", int(rc))
	}
	if _, err := write.ExecContext(ctx, "PRAGMA wal_autocheckpoint=0"); err != nil {
		C.ck_stop(c)
		return nil, err
	}
	run, cancel := context.WithCancel(context.Background())
	ck := &checkpointer{c: c, stop: cancel}
	ck.done.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-run.Done():
				return
			case <-t.C:
			}
			// The pages stay in the WAL, where readers find them; the writer takes over.
			if C.ck_gave_up(c) != 0 {
				if _, err := write.ExecContext(run, "PRAGMA wal_autocheckpoint=1000"); err == nil {
					return
				}
			}
		}
	})
	return ck, nil
}

// runs is how many checkpoints have succeeded.
func (ck *checkpointer) runs() int64 { return int64(C.ck_runs(ck.c)) }

// close stops the thread and the watcher, runs a last checkpoint and closes the connection
// (once). A last checkpoint that fails leaves the pages in the WAL, which SQLite copies back
// when the last connection closes or the next one opens.
func (ck *checkpointer) close() error {
	ck.once.Do(func() {
		ck.stop()
		ck.done.Wait()
		C.ck_stop(ck.c)
	})
	return nil
}
