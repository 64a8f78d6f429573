package secret

import (
	"context"
	"testing"
	"time"
)

// Usage adds up the released slots and the CPU spent in them, measured on the slot's own
// thread: a hash's CPU, not a slot's wait nor other goroutines' work meanwhile.
func TestLimiterUsage(t *testing.T) {
	l := NewLimiter(1, 0)
	if n, cpu, wall := l.Usage(); n != 0 || cpu != 0 || wall != 0 {
		t.Fatalf("a new limiter reports %d slots, %v CPU, %v wall", n, cpu, wall)
	}
	for range 2 {
		if err := l.Do(context.Background(), func() { idKey([]byte("pw"), []byte("saltsalt"), 1, 4096, 1, 32) }); err != nil {
			t.Fatal(err)
		}
	}
	release, err := l.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond) // a slot held without hashing: wall time, no CPU
	release()
	n, cpu, wall := l.Usage()
	if n != 3 {
		t.Errorf("slots %d, want 3", n)
	}
	if _, ok := threadCPU(); ok && (cpu <= 0 || cpu > wall-25*time.Millisecond) {
		t.Errorf("CPU %v, wall %v: want the two hashes' CPU, without the 30 ms asleep", cpu, wall)
	}
	if wall < 30*time.Millisecond {
		t.Errorf("wall %v, want at least the 30 ms the slot was held", wall)
	}
	var nilL *Limiter
	if n, _, _ := nilL.Usage(); n != 0 {
		t.Errorf("nil limiter: %d slots", n)
	}
}
