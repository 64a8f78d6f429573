package passwords

import (
	"strings"
	"testing"
	"time"
)

func newChecker(t *testing.T) *Checker {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestListSize(t *testing.T) {
	c := newChecker(t)
	if c.Len() < 10000 {
		t.Fatalf("blocklist has %d entries, want >= 10000", c.Len())
	}
	l, err := c.list()
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Len() {
		if p := l.entry(i); i > 0 && p <= l.entry(i-1) {
			t.Fatalf("entry %q is not after %q", p, l.entry(i-1))
		}
		if p := l.entry(i); p != strings.ToLower(p) || p == "" {
			t.Fatalf("entry %q is not a non-empty lower-case password", p)
		}
	}
}

func TestNewGivesIndependentCheckers(t *testing.T) {
	a, b := newChecker(t), newChecker(t)
	la, errA := a.list()
	lb, errB := b.list()
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if a == b || &la.ends[0] == &lb.ends[0] {
		t.Fatal("New returned shared state")
	}
}

func TestCommon(t *testing.T) {
	c := newChecker(t)
	common := []string{
		"password", "123456", "qwerty", "PASSWORD", "QwErTy", "letmein", "iloveyou",
		"password1", "Password1", "qwerty!", "123456!", "dragon1", "monkey",
	}
	for _, pw := range common {
		if !c.Common(pw) {
			t.Errorf("Common(%q) = false, want true", pw)
		}
	}
	notCommon := []string{
		"", "correct horse battery staple velvet",
		"tG7#qLw9!vXe2@pZ", "password!!", "password12x", "!", "1",
		" password", // only the documented tweaks are undone
	}
	for _, pw := range notCommon {
		if c.Common(pw) {
			t.Errorf("Common(%q) = true, want false", pw)
		}
	}
}

func TestStrengthOrders(t *testing.T) {
	c := newChecker(t)
	ordered := []string{
		"password",                       // on the list
		"summer2019",                     // word + year
		"Tr0ub4dor&3",                    // the famous "looks strong" one
		"correct horse battery staple",   // passphrase
		"wq8$Vn!3Lz@pK6#rT2^mB9&xF4*hJ7", // long random
	}
	prev := -1
	for _, pw := range ordered {
		s := c.Strength(pw)
		if s < VeryWeak || s > Strong {
			t.Fatalf("Strength(%q) = %d out of range", pw, s)
		}
		if s < prev {
			t.Errorf("Strength(%q) = %d, less than the previous, weaker password (%d)", pw, s, prev)
		}
		prev = s
	}
	if got := c.Strength("password"); got != VeryWeak {
		t.Errorf("Strength(password) = %d, want %d", got, VeryWeak)
	}
	if got := c.Strength("123456"); got != VeryWeak {
		t.Errorf("Strength(123456) = %d, want %d", got, VeryWeak)
	}
	if got := c.Strength("wq8$Vn!3Lz@pK6#rT2^mB9&xF4*hJ7"); got != Strong {
		t.Errorf("Strength(long random) = %d, want %d", got, Strong)
	}
	if got := c.Strength(""); got != VeryWeak {
		t.Errorf("Strength(\"\") = %d, want %d", got, VeryWeak)
	}
	// A common password is VeryWeak even with the tweak zxcvbn might like more.
	if got := c.Strength("Password1"); got != VeryWeak {
		t.Errorf("Strength(Password1) = %d, want %d", got, VeryWeak)
	}
}

func TestStrengthUserInputs(t *testing.T) {
	c := newChecker(t)
	pw := "zanzibarquokka" // uncommon words: decent on their own
	alone := c.Strength(pw)
	with := c.Strength(pw, "Zanzibar Quokka", "zanzibarquokka@example.com")
	if with >= alone {
		t.Errorf("Strength with the person's own name = %d, want less than %d", with, alone)
	}
}

func TestStrengthLongInputIsCheap(t *testing.T) {
	c := newChecker(t)
	long := strings.Repeat("p4$$w0rd!", 100_000) // ~900 KB of l33t, zxcvbn's worst case
	start := time.Now()
	s := c.Strength(long)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Strength of a 900 KB password took %v", d)
	}
	if s < VeryWeak || s > Strong {
		t.Errorf("Strength = %d out of range", s)
	}
}

func TestHint(t *testing.T) {
	want := map[int]string{-1: "very weak", 0: "very weak", 1: "weak", 2: "fair", 3: "good", 4: "strong", 9: "strong"}
	for score, w := range want {
		if got := Hint(score); got != w {
			t.Errorf("Hint(%d) = %q, want %q", score, got, w)
		}
	}
}
