package sqlite

import (
	"path/filepath"
	"testing"
)

// TestStablePlans: a statement that SQLite would prepare again at every execution (a join
// looked up by a parameter, run as go-sqlite3 runs it: clear_bindings, then bind) is
// prepared once on the connections Open's process opens.
func TestStablePlans(t *testing.T) {
	file := filepath.Join(t.TempDir(), "myaccount.db")
	db, err := Open(t.Context(), file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const join = `SELECT t.id, g.id, u.id FROM refresh_tokens t JOIN grants g ON g.id = t.grant_id
		JOIN users u ON u.id = g.user_id WHERE t.hash = ?`

	without, err := reprepares(file, join, 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	if without == 0 {
		t.Fatal("without the guarantee the join was not prepared again: this test no longer shows the cost")
	}
	with, err := reprepares(file, join, 5, -1)
	if err != nil {
		t.Fatal(err)
	}
	if with != 0 {
		t.Errorf("prepared again %d times in 5 runs, want 0 (%d without the guarantee)", with, without)
	}
}
