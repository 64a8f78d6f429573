package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
)

// The default soft limit leaves room for every argon2id hash the limiter may run at once.
func TestDefaultMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	if got, want := defaultMemoryLimit(2, 0), int64(32*mib+2*19*mib); got != want {
		t.Errorf("defaultMemoryLimit(2, default memory) = %d MiB, want %d MiB", got/mib, want/mib)
	}
	// A configured memory cost (password_hash_memory_kib) is what each slot holds.
	if got, want := defaultMemoryLimit(3, 47104), int64(32*mib+3*46*mib); got != want {
		t.Errorf("defaultMemoryLimit(3, 46 MiB) = %d MiB, want %d MiB", got/mib, want/mib)
	}
	if got, want := defaultMemoryLimit(0, 0), defaultMemoryLimit(runtime.NumCPU(), 0); got != want {
		t.Errorf("defaultMemoryLimit(0) = %d, want one hash per CPU (%d)", got, want)
	}
}

// serve sets the memory limit and GOGC only where the environment says nothing.
func TestRuntimeDefaults(t *testing.T) {
	prevGC := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(prevGC)
		debug.SetMemoryLimit(prevLimit)
	})

	runtimeDefaults(func(string) string { return "" }, 2, 19456)
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Errorf("GOGC unset: GC percent %d, want %d", got, defaultGCPercent)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != defaultMemoryLimit(2, 19456) {
		t.Errorf("GOMEMLIMIT unset: limit %d, want %d", got, defaultMemoryLimit(2, 19456))
	}

	set := map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}
	runtimeDefaults(func(k string) string { return set[k] }, 2, 19456)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set: GC percent changed to %d", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("GOMEMLIMIT set: limit changed to %d", got)
	}
}
