// Package devicecode defines the user codes of the device authorization grant (RFC 8628):
// the short code a device shows and a person types on another screen. The provider draws
// codes from Alphabet and stores them normalised; the UI normalises what people type the same
// way. It imports nothing of ours, so both op and ui use it.
package devicecode

import "unicode"

const (
	// Alphabet has no vowels (no words can be spelt by accident) and no letters that are easily
	// confused with each other or with digits (RFC 8628 §6.1). It is zitadel's CharSetBase20.
	Alphabet = "BCDFGHJKLMNPQRSTVWXZ"
	// Length is the number of characters of a code: 20^8 ≈ 2.6·10^10 codes.
	Length = 8
	// Group is how many characters are shown between dashes: "BCDF-GHJK".
	Group = 4
)

// maxInput bounds the work on a typed code; anything longer is not a code.
const maxInput = 64

// lookalikes maps characters that people type for a letter of Alphabet: digits that look
// like one, U for V, and the Cyrillic and Greek capitals (and Cyrillic lower-case letters)
// that look exactly like a Latin letter, as typed with a Cyrillic or Greek keyboard.
var lookalikes = map[rune]byte{
	'8': 'B', '5': 'S', '2': 'Z', '6': 'G', 'U': 'V', 'u': 'V',
	// Cyrillic
	'В': 'B', 'С': 'C', 'Н': 'H', 'К': 'K', 'М': 'M', 'Р': 'P', 'Т': 'T', 'Х': 'X',
	'с': 'C', 'р': 'P', 'х': 'X',
	// Greek
	'Β': 'B', 'Η': 'H', 'Κ': 'K', 'Μ': 'M', 'Ν': 'N', 'Ρ': 'P', 'Τ': 'T', 'Χ': 'X', 'Ζ': 'Z',
}

// Normalize turns what a person typed into a stored user code: upper case, without dashes,
// spaces and invisible characters, full-width letters made plain and look-alikes mapped. The
// result is Length characters of Alphabet, or "" when the input cannot be a code.
func Normalize(s string) string {
	if len(s) > maxInput {
		return ""
	}
	var out [Length]byte
	n := 0
	for _, r := range s {
		if ignorable(r) {
			continue
		}
		c, ok := canonical(r)
		if !ok || n == Length {
			return ""
		}
		out[n] = c
		n++
	}
	if n != Length {
		return ""
	}
	return string(out[:])
}

// ignorable are the separators people type or paste between the groups.
func ignorable(r rune) bool {
	return unicode.IsSpace(r) || unicode.Is(unicode.Pd, r) || unicode.Is(unicode.Cf, r) ||
		r == '\u2212' || r == '_' || r == '.'
}

func canonical(r rune) (byte, bool) {
	if r >= '\uff01' && r <= '\uff5e' { // full-width ASCII, from East Asian keyboards
		r -= 0xfee0
	}
	if c, ok := lookalikes[r]; ok {
		return c, true
	}
	if r >= 'a' && r <= 'z' {
		r -= 'a' - 'A'
	}
	if r < 'A' || r > 'Z' || !inAlphabet(byte(r)) {
		return 0, false
	}
	return byte(r), true
}

func inAlphabet(c byte) bool {
	for i := 0; i < len(Alphabet); i++ {
		if Alphabet[i] == c {
			return true
		}
	}
	return false
}

// Format shows a normalised code in groups, "BCDFGHJK" → "BCDF-GHJK". Anything that is not
// a normalised code is returned unchanged.
func Format(code string) string {
	if len(code) != Length || Normalize(code) != code {
		return code
	}
	out := make([]byte, 0, Length+Length/Group)
	for i := 0; i < Length; i++ {
		if i > 0 && i%Group == 0 {
			out = append(out, '-')
		}
		out = append(out, code[i])
	}
	return string(out)
}
