package passwords

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// keyboardRows are key sequences people walk along: keyboard rows of common layouts (each
// also read row after row, so "qwertyuiopas" is one walk), keyboard columns, the digits and
// the alphabets, in letters and digits only (passwords are compared without punctuation). A walk is any run of minWalk or more characters found in one of them,
// forwards or backwards.
var keyboardRows = []string{
	"1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm",
	"qwertyuiopasdfghjklzxcvbnm", // QWERTY rows in reading order
	"qwertzuiopüasdfghjklöäyxcvbnm",
	"azertyuiopqsdfghjklmwxcvbn",
	"1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
	"abcdefghijklmnopqrstuvwxyz",
	"0123456789",
	"йцукенгшщзхъфывапролджэячсмитьбю",
	"абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
}

// minWalk is the shortest run counted as a walk: "qwe" or "123" inside a long password is
// harmless, "qwer" already is a pattern.
const minWalk = 4

// minRemainder is how many letters and digits must be left once context words and walks are
// taken out: fewer means the password is made of what an attacker tries first.
const minRemainder = 6

// Predictable reports whether pw is built mostly from words an attacker tries first for this
// account — the context words given (the account's email address and its local part, the
// product's name) — and from keyboard walks such as "qwertyuiopas" or "98765432". What is
// left after removing them must be at least six letters or digits. Case, spaces and
// punctuation are ignored throughout, and context words shorter than three letters are.
func Predictable(pw string, context ...string) bool {
	// Separators do not make a word new: "My Account" and "my.account" are "myaccount".
	rest := squeeze(pw)
	var words []string
	for _, w := range context {
		w = strings.ToLower(w)
		words = append(words, squeeze(w))
		if local, _, ok := strings.Cut(w, "@"); ok {
			words = append(words, squeeze(local))
		}
	}
	// Longest first, so the whole address goes before its local part.
	slices.SortFunc(words, func(a, b string) int { return len(b) - len(a) })
	for _, w := range words {
		if utf8.RuneCountInString(w) >= 3 {
			rest = strings.ReplaceAll(rest, w, " ")
		}
	}
	rest = removeWalks(rest)
	return utf8.RuneCountInString(strings.ReplaceAll(rest, " ", "")) < minRemainder
}

// squeeze keeps the letters and digits of s, lower-cased.
func squeeze(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// removeWalks replaces every keyboard walk of at least minWalk characters with a space.
func removeWalks(s string) string {
	rs := []rune(s)
	out := make([]rune, 0, len(rs))
	for i := 0; i < len(rs); {
		if n := walkAt(rs[i:]); n >= minWalk {
			out = append(out, ' ')
			i += n
			continue
		}
		out = append(out, rs[i])
		i++
	}
	return string(out)
}

// walkAt returns the length of the longest walk that starts at the beginning of rs.
func walkAt(rs []rune) int {
	best := 0
	for _, row := range keyboardRows {
		for _, seq := range [][]rune{[]rune(row), reversed(row)} {
			for start := range seq {
				if seq[start] != rs[0] {
					continue
				}
				n := 0
				for n < len(rs) && start+n < len(seq) && seq[start+n] == rs[n] {
					n++
				}
				best = max(best, n)
			}
		}
	}
	return best
}

func reversed(s string) []rune {
	rs := []rune(s)
	for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
		rs[i], rs[j] = rs[j], rs[i]
	}
	return rs
}
