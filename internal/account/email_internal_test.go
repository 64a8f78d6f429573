package account

import (
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestEmailASCIIFastPaths: the ASCII shortcuts of deceptive and scriptOf answer as the
// Unicode tables do, for every ASCII character.
func TestEmailASCIIFastPaths(t *testing.T) {
	for r := rune(0); r < utf8.RuneSelf; r++ {
		slow := unicode.IsControl(r) || unicode.IsSpace(r) ||
			unicode.In(r, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zs, unicode.Zl, unicode.Zp,
				unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector,
				unicode.Bidi_Control, unicode.Join_Control)
		if got := deceptive(string(r)); got != slow {
			t.Errorf("deceptive(%q) = %v, the tables say %v", r, got, slow)
		}
		if !unicode.IsLetter(r) {
			continue // mixedScript asks only about letters
		}
		if got, want := scriptOf(r), scriptOfTables(r); got != want {
			t.Errorf("scriptOf(%q) = %q, the tables say %q", r, got, want)
		}
	}
}

func BenchmarkNormalizeEmail(b *testing.B) {
	for b.Loop() {
		NormalizeEmail("ada.lovelace@example.com")
	}
}
