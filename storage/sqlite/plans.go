package sqlite

/*
#include <stdlib.h>

// The SQLite that github.com/mattn/go-sqlite3 links in (see checkpoint.go).
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
int sqlite3_auto_extension(void (*entry)(void));
int sqlite3_db_config(sqlite3 *db, int op, ...);
int sqlite3_open_v2(const char *filename, sqlite3 **db, int flags, const char *vfs);
int sqlite3_close_v2(sqlite3 *db);
int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **stmt, const char **tail);
int sqlite3_bind_parameter_count(sqlite3_stmt *stmt);
int sqlite3_bind_int64(sqlite3_stmt *stmt, int i, long long v);
int sqlite3_step(sqlite3_stmt *stmt);
int sqlite3_reset(sqlite3_stmt *stmt);
int sqlite3_clear_bindings(sqlite3_stmt *stmt);
int sqlite3_stmt_status(sqlite3_stmt *stmt, int op, int reset);
int sqlite3_finalize(sqlite3_stmt *stmt);

enum { plans_qpsg = 1007, plans_stmtstatus_reprepare = 5, plans_row = 100, plans_open_readonly = 0x1 };

// stable_plans, run by SQLite for every connection it opens, turns on the query planner
// stability guarantee (SQLITE_DBCONFIG_ENABLE_QPSG).
static int stable_plans(sqlite3 *db, char **err, const void *api) {
	return sqlite3_db_config(db, plans_qpsg, 1, (int *)0);
}

static int register_stable_plans(void) {
	return sqlite3_auto_extension((void (*)(void))stable_plans);
}

// count_reprepares runs sql n times as go-sqlite3 does (reset, clear_bindings, bind, step to
// the end), each time with other values, on a connection of its own to file, with the
// guarantee as the connection has it (qpsg < 0) or set to qpsg; it returns how many times
// SQLite prepared the statement again, or -1.
static int count_reprepares(const char *file, const char *sql, int n, int qpsg) {
	sqlite3 *db = 0;
	sqlite3_stmt *st = 0;
	int count = -1;
	if (sqlite3_open_v2(file, &db, plans_open_readonly, 0) != 0) goto done;
	if (qpsg >= 0 && sqlite3_db_config(db, plans_qpsg, qpsg, (int *)0) != 0) goto done;
	if (sqlite3_prepare_v2(db, sql, -1, &st, 0) != 0) goto done;
	for (int i = 0; i < n; i++) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		for (int p = 1; p <= sqlite3_bind_parameter_count(st); p++) sqlite3_bind_int64(st, p, 1000 + i);
		while (sqlite3_step(st) == plans_row) {
		}
	}
	count = sqlite3_stmt_status(st, plans_stmtstatus_reprepare, 0);
done:
	if (st) sqlite3_finalize(st);
	if (db) sqlite3_close_v2(db);
	return count;
}
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"
)

// stablePlans makes every SQLite connection this process opens keep the plan it prepared a
// statement with, whatever values are bound (SQLITE_DBCONFIG_ENABLE_QPSG).
//
// Without it SQLite marks a parameter compared with = in a term the chosen plan does not use
// (in a join, the lookup key of every table but the first) so that the statement is prepared
// again when the parameter is rebound, in case a new value suggests a better plan; and
// sqlite3_clear_bindings, which go-sqlite3 calls before every execution, then expires the
// statement whatever the new value. So the refresh grant's read of the token, its grant and
// its user was parsed and planned afresh on every refresh: 14 % of the server's CPU under a
// refresh load (perf, docs/sizing-journal.md), and the same for the sign-in's session and user reads.
// Our queries' plans are the same with and without it (EXPLAIN QUERY PLAN of each, with
// parameters bound); the partial indexes that would need a bound value to be usable are
// queried with their condition spelled out (audit events by actor or target also ask for a
// non-empty one).
//
// SQLite offers this only per connection or for every connection of the process
// (sqlite3_auto_extension); database/sql and go-sqlite3 give no handle to the connections
// they open, so it is the process, once.
var stablePlans = sync.OnceValue(func() error {
	if rc := C.register_stable_plans(); rc != 0 {
		return fmt.Errorf("sqlite: turn on stable query plans: error %d", int(rc))
	}
	return nil
})

// reprepares runs query n times on a read-only connection of its own to file, as go-sqlite3
// runs a cached statement, and returns how many times SQLite prepared it again. qpsg < 0
// keeps the connection's setting (stablePlans'), 0 and 1 set it. For tests: the plans'
// stability is not observable through database/sql.
func reprepares(file, query string, n, qpsg int) (int, error) {
	cf, cq := C.CString(file), C.CString(query)
	defer C.free(unsafe.Pointer(cf))
	defer C.free(unsafe.Pointer(cq))
	c := int(C.count_reprepares(cf, cq, C.int(n), C.int(qpsg)))
	if c < 0 {
		return 0, fmt.Errorf("sqlite: run %q on %s: failed", query, file)
	}
	return c, nil
}
