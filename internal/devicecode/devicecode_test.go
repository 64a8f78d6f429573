package devicecode

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"BCDF-GHJK", "BCDFGHJK"},
		{"BCDFGHJK", "BCDFGHJK"},
		{"bcdf-ghjk", "BCDFGHJK"},
		{"  bcdf ghjk \n", "BCDFGHJK"},
		{"BCDF–GHJK", "BCDFGHJK"},      // en dash from a word processor
		{"BC DF-GH_JK", "BCDFGHJK"},    // any grouping
		{"BCDF\u200bGHJK", "BCDFGHJK"}, // zero-width space from a copy
		{"ＢＣＤＦ－ＧＨＪＫ", "BCDFGHJK"},      // full width
		{"8CDF-GHJK", "BCDFGHJK"},      // 8 for B
		{"ZZ52-6UVV", "ZZSZGVVV"},
		{"ВСНК-МРТХ", "BCHKMPTX"}, // Cyrillic capitals
		{"ΒΗΚΜ-ΝΡΤΧ", "BHKMNPTX"}, // Greek capitals
		{"", ""},
		{"BCDF-GHJ", ""},   // too short
		{"BCDF-GHJKL", ""}, // too long
		{"BCDF-GHJA", ""},  // vowel: never in a code
		{"BCDF-GHJ0", ""},  // 0 could be D or Q: not guessed
		{"BCDF-GHJ?", ""},
		{"BCDF-GHJ\xff", ""}, // invalid UTF-8
		{strings.Repeat(" ", 100) + "BCDFGHJK", ""},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFormat(t *testing.T) {
	if got := Format("BCDFGHJK"); got != "BCDF-GHJK" {
		t.Errorf("Format = %q", got)
	}
	for _, s := range []string{"", "bcdfghjk", "BCDF-GHJK", "AAAAAAAA"} {
		if got := Format(s); got != s {
			t.Errorf("Format(%q) = %q, want it unchanged", s, got)
		}
	}
}

// FuzzNormalize: whatever is typed, Normalize does not panic, its result is a code of the
// alphabet or empty, normalising twice changes nothing, and a formatted code normalises back.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"BCDF-GHJK", "bcdf ghjk", "ВСНК-МРТХ", "ＢＣＤＦ－ＧＨＪＫ", "8CDF-GHJK", "", "\xff", "BCDF\u200bGHJK"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Normalize(s)
		if got != "" {
			if len(got) != Length {
				t.Fatalf("Normalize(%q) = %q: length %d", s, got, len(got))
			}
			for i := 0; i < len(got); i++ {
				if !strings.ContainsRune(Alphabet, rune(got[i])) {
					t.Fatalf("Normalize(%q) = %q: %q is not in the alphabet", s, got, got[i])
				}
			}
			if again := Normalize(Format(got)); again != got {
				t.Fatalf("Normalize(Format(%q)) = %q", got, again)
			}
		}
		if again := Normalize(got); again != got {
			t.Fatalf("Normalize is not idempotent: %q → %q → %q", s, got, again)
		}
	})
}
