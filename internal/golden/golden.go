// Package golden compares a test's output with a file under testdata, for tests that pin
// output byte for byte (rendered pages and mails, the discovery document). Run the tests
// with -update to rewrite the files from the current output, then review the diff.
//
// Only tests import it: its -update flag is registered in the test binary.
package golden

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files from the current output")

// Updating reports whether this run rewrites the golden files.
func Updating() bool { return *update }

// Check compares got with the file at path, or writes it there with -update.
func Check(t testing.TB, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (if intended, run with -update) %s", path, FirstDiff(got, string(want)))
	}
}

// FirstDiff shows where two texts part.
func FirstDiff(got, want string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	from := max(0, i-80)
	return fmt.Sprintf("at byte %d:\n got …%q\nwant …%q", i, got[from:min(len(got), i+80)], want[from:min(len(want), i+80)])
}
