package licence

import (
	"crypto/rand"
	"math/big"
	"strings"
	"unicode"

	"github.com/myaccount/myaccount/internal/secret"
)

// Activation codes look like 7K3QF-9XHRT-MZ4PW-2CV8N: CodeLength characters of Alphabet, the
// last a check character (a weighted sum modulo 31), so a typo (one wrong character, two
// neighbours swapped) is caught before the code is looked up and costs no attempt. 19 random
// characters of 31 carry ~94 bits: guessing is hopeless, and the attempt limits only keep the
// form from being used to try anyway.
const (
	// Alphabet has digits and capitals without the look-alikes 0/O, 1/I/L.
	Alphabet   = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
	CodeLength = 20
	codeGroup  = 5
	maxInput   = 128
)

// lookalikes are what people type for a character of Alphabet: Cyrillic and Greek capitals
// (and Cyrillic lower case) that look exactly like a Latin letter.
var lookalikes = map[rune]byte{
	'А': 'A', 'В': 'B', 'С': 'C', 'Е': 'E', 'Н': 'H', 'К': 'K', 'М': 'M', 'Р': 'P', 'Т': 'T', 'Х': 'X',
	'а': 'A', 'с': 'C', 'е': 'E', 'р': 'P', 'х': 'X',
	'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Η': 'H', 'Κ': 'K', 'Μ': 'M', 'Ν': 'N', 'Ρ': 'P', 'Τ': 'T', 'Χ': 'X', 'Υ': 'Y', 'Ζ': 'Z',
}

// NewCode draws a formatted activation code from crypto/rand.
func NewCode() string {
	var b [CodeLength]byte
	n := big.NewInt(int64(len(Alphabet)))
	for i := 0; i < CodeLength-1; i++ {
		v, err := rand.Int(rand.Reader, n)
		if err != nil { // crypto/rand does not fail on supported platforms
			panic("licence: crypto/rand: " + err.Error())
		}
		b[i] = Alphabet[v.Int64()]
	}
	b[CodeLength-1] = checkChar(string(b[:CodeLength-1]))
	return Format(string(b[:]))
}

// Normalize turns what a person typed into a bare code: upper case, separators and
// invisible characters dropped, full-width and look-alike letters made plain. ok is false
// when the result is not CodeLength characters of Alphabet with a right check character.
func Normalize(s string) (code string, ok bool) {
	if len(s) > maxInput {
		return "", false
	}
	var out []byte
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.Is(unicode.Pd, r) || unicode.Is(unicode.Cf, r) || r == '_' || r == '.' {
			continue
		}
		if r >= '\uff01' && r <= '\uff5e' { // full-width ASCII
			r -= 0xfee0
		}
		c, found := lookalikes[r]
		if !found {
			if r >= 'a' && r <= 'z' {
				r -= 'a' - 'A'
			}
			if r > unicode.MaxASCII || strings.IndexByte(Alphabet, byte(r)) < 0 {
				return "", false
			}
			c = byte(r)
		}
		out = append(out, c)
	}
	if len(out) != CodeLength || checkChar(string(out[:CodeLength-1])) != out[CodeLength-1] {
		return "", false
	}
	return string(out), true
}

// Format groups a bare code: 7K3QF9XHRT... → 7K3QF-9XHRT-...
func Format(code string) string {
	var b strings.Builder
	for i := 0; i < len(code); i++ {
		if i > 0 && i%codeGroup == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(code[i])
	}
	return b.String()
}

// HashCode is what is stored of a code: the SHA-256 of its bare form.
func HashCode(bare string) string { return secret.HashToken("licence:" + bare) }

// checkChar is the check character of payload (every character in Alphabet): the one that
// makes the weighted sum Σ (i+1)·value(c_i) over all CodeLength characters 0 modulo 31. As 31
// is prime and the weights 1..20 are not multiples of it, every single wrong character
// changes the sum, and so does every swap of two different neighbours (weights differ by 1).
func checkChar(payload string) byte {
	const n = len(Alphabet) // 31, prime
	sum := 0
	for i := 0; i < len(payload); i++ {
		sum += (i + 1) * strings.IndexByte(Alphabet, payload[i])
	}
	// value·CodeLength ≡ -sum (mod 31); 14 is the inverse of 20 modulo 31.
	return Alphabet[(n-sum%n)%n*14%n]
}
