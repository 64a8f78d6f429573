package secret

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func TestRandomToken(t *testing.T) {
	for _, n := range []int{1, 16, 32, 33} {
		tok := RandomToken(n)
		if len(tok) != base64.RawURLEncoding.EncodedLen(n) {
			t.Errorf("RandomToken(%d) has length %d", n, len(tok))
		}
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(b) != n {
			t.Errorf("RandomToken(%d) = %q does not decode to %d bytes: %v", n, tok, n, err)
		}
	}
	seen := make(map[string]bool)
	for range 10000 {
		tok := RandomToken(16)
		if seen[tok] {
			t.Fatalf("duplicate token %q", tok)
		}
		seen[tok] = true
	}
}

func TestRandomTokenPanicsOnNonPositive(t *testing.T) {
	for _, n := range []int{0, -1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RandomToken(%d) did not panic", n)
				}
			}()
			_ = RandomToken(n)
		}()
	}
}

func TestNewID(t *testing.T) {
	seen := make(map[string]bool)
	for range 10000 {
		id := NewID()
		if len(id) != 26 {
			t.Fatalf("NewID() = %q, want 26 characters", id)
		}
		if strings.Trim(id, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("NewID() = %q has a character outside [a-z2-7]", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}

// NewOrderedID has NewID's form, sorts by time (as text, which is how an index compares it),
// and is unique within a millisecond.
func TestNewOrderedID(t *testing.T) {
	base := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	seen := make(map[string]bool)
	prev := ""
	for i := range 10000 {
		at := base.Add(time.Duration(i/10) * time.Millisecond) // ten ids per millisecond
		id := NewOrderedID(at)
		if len(id) != 26 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("NewOrderedID = %q, want 26 characters of [a-z2-7]", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		if i%10 == 0 && id <= prev {
			t.Fatalf("id %q of %v does not sort after %q of the millisecond before", id, at, prev)
		}
		prev = id
	}
	// Across the years and the alphabet's digit-letter boundary: still in order.
	a, b := NewOrderedID(time.UnixMilli(0x7_ffff_ffff)), NewOrderedID(time.UnixMilli(0x8_0000_0000))
	if a >= b {
		t.Errorf("%q does not sort before %q", a, b)
	}
}

func TestHashToken(t *testing.T) {
	// SHA-256("abc"), FIPS 180-2 test vector.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := HashToken("abc"); got != want {
		t.Fatalf("HashToken(abc) = %s, want %s", got, want)
	}
	if HashToken("a") == HashToken("b") {
		t.Fatal("different inputs hash equal")
	}
}

func TestEqual(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"", "a", false},
	}
	for _, c := range cases {
		if got := Equal(c.a, c.b); got != c.want {
			t.Errorf("Equal(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestDerivedID(t *testing.T) {
	a, b := DerivedID("outbox task x item 1"), DerivedID("outbox task x item 2")
	if a != DerivedID("outbox task x item 1") {
		t.Error("the same seed gave two ids")
	}
	if a == b {
		t.Error("two seeds gave one id")
	}
	for _, id := range []string{a, b} {
		if len(id) != 26 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Errorf("id %q is not in NewID's form", id)
		}
	}
}
