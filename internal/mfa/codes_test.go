package mfa

import (
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/internal/secret"
)

func TestNewRecoveryCodesFormat(t *testing.T) {
	plain, hashes := NewRecoveryCodes()
	if len(plain) != RecoveryCodeCount || len(hashes) != RecoveryCodeCount {
		t.Fatalf("got %d codes and %d hashes, want %d", len(plain), len(hashes), RecoveryCodeCount)
	}
	shape := regexp.MustCompile(`^[` + recoveryAlphabet + `]{5}-[` + recoveryAlphabet + `]{5}$`)
	seen := map[string]bool{}
	for i, c := range plain {
		if !shape.MatchString(c) {
			t.Errorf("code %q is not xxxxx-xxxxx over the alphabet", c)
		}
		if seen[c] {
			t.Errorf("duplicate code %q", c)
		}
		seen[c] = true
		n, _ := NormalizeRecoveryCode(c)
		if hashes[i] != secret.HashToken(n) || hashes[i] != HashRecoveryCode(c) {
			t.Errorf("hash %d is not SHA-256 of the normalised code", i)
		}
		if strings.Contains(hashes[i], c) {
			t.Error("hash contains the code")
		}
	}
}

func TestRecoveryCodeEntropy(t *testing.T) {
	if len(recoveryAlphabet) != 32 {
		t.Fatalf("alphabet has %d symbols, want 32 (5 bits each, no modulo bias)", len(recoveryAlphabet))
	}
	if bits := float64(RecoveryCodeLen) * math.Log2(float64(len(recoveryAlphabet))); bits < 50 {
		t.Errorf("a code carries %.1f bits, want at least 50", bits)
	}
	for _, ambiguous := range "ilou" {
		if strings.ContainsRune(recoveryAlphabet, ambiguous) {
			t.Errorf("alphabet contains ambiguous %q", ambiguous)
		}
	}
	// Every symbol must be drawn about equally often: 20,000 draws, 625 expected per symbol,
	// standard deviation about 24.6; the bounds are more than 5 deviations out.
	counts := map[rune]int{}
	for range 2000 {
		c, _ := NormalizeRecoveryCode(newRecoveryCode())
		for _, r := range c {
			counts[r]++
		}
	}
	for _, r := range recoveryAlphabet {
		if n := counts[r]; n < 500 || n > 750 {
			t.Errorf("symbol %q drawn %d times in 20000, want about 625", r, n)
		}
	}
}

func TestNormalizeRecoveryCode(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"abcde-fghjk", "abcdefghjk", true},
		{"ABCDE-FGHJK", "abcdefghjk", true},
		{"abcdefghjk", "abcdefghjk", true},
		{" abc de fgh jk ", "abcdefghjk", true},
		{"abcde_fghjk", "abcdefghjk", true},
		{"abcde\u2013fghjk", "abcdefghjk", true}, // en dash from a word processor
		{"o0o0o-IiLl1", "0000011111", true},      // Crockford look-alikes
		{"abcde-fghju", "", false},               // u is not in the alphabet
		{"abcde-fghj", "", false},                // too short
		{"abcde-fghjkm", "", false},              // too long
		{"abcde-fghj!", "", false},
		{"abcde-fghjé", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := NormalizeRecoveryCode(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeRecoveryCode(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if HashRecoveryCode("abcde-fghju") != "" {
		t.Error("malformed code has a non-empty hash")
	}
	if HashRecoveryCode("ABCDE FGHJK") != HashRecoveryCode("abcde-fghjk") {
		t.Error("case and separators change the hash")
	}
}

func TestNewEmailCode(t *testing.T) {
	leadingZero := false
	seen := map[string]bool{}
	for range 2000 {
		code, hash := NewEmailCode("user-1")
		if len(code) != EmailCodeDigits || !allDigits(code) {
			t.Fatalf("code %q is not %d digits", code, EmailCodeDigits)
		}
		if hash != EmailCodeHash("user-1", code) {
			t.Fatalf("hash of %q does not match EmailCodeHash", code)
		}
		leadingZero = leadingZero || code[0] == '0'
		seen[code] = true
	}
	if !leadingZero {
		t.Error("no code of 2000 starts with 0: the range is not 000000-999999")
	}
	if len(seen) < 1990 {
		t.Errorf("only %d distinct codes in 2000 draws", len(seen))
	}
}

func TestEmailCodeHash(t *testing.T) {
	h := EmailCodeHash("user-1", "012345")
	tests := []struct {
		name, user, code string
		same             bool
	}{
		{"spaced", "user-1", "012 345", true},
		{"dashed", "user-1", "012-345", true},
		{"other user", "user-2", "012345", false},
		{"other code", "user-1", "012346", false},
	}
	for _, tt := range tests {
		if got := EmailCodeHash(tt.user, tt.code) == h; got != tt.same {
			t.Errorf("%s: same hash = %v, want %v", tt.name, got, tt.same)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "12345a", "١٢٣٤٥٦"} {
		if EmailCodeHash("user-1", bad) != "" {
			t.Errorf("EmailCodeHash(%q) is not empty", bad)
		}
	}
	if EmailCodeHash("", "012345") != "" {
		t.Error("EmailCodeHash without a user is not empty")
	}
}
