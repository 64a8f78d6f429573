package main

import (
	"runtime"
	"testing"
)

// The default soft limit leaves room for every argon2id hash the limiter may run at once.
func TestDefaultMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	if got, want := defaultMemoryLimit(2), int64(32*mib+2*19*mib); got != want {
		t.Errorf("defaultMemoryLimit(2) = %d MiB, want %d MiB", got/mib, want/mib)
	}
	if got, want := defaultMemoryLimit(0), defaultMemoryLimit(runtime.NumCPU()); got != want {
		t.Errorf("defaultMemoryLimit(0) = %d, want one hash per CPU (%d)", got, want)
	}
}
