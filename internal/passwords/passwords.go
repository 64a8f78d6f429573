// Package passwords knows which passwords are too common to accept and how strong a password
// looks, so that registration and password changes can refuse "123456" and show a strength
// hint while the person types.
//
// The blocklist is embedded (common-passwords.txt.gz, see README.md beside it for its source
// and licence) and loaded once by New into a Checker; there is no package-level state, so
// tests and several services in one process each get their own Checker. Strength uses
// zxcvbn (a copy of github.com/ccojocar/zxcvbn-go in ./zxcvbn), which recognises dictionary
// words, names, keyboard walks, dates, repeats and l33t substitutions rather than just
// counting character classes. Its dictionaries (~6 MB of heap) are built by the first
// Strength call, not at start-up: most processes (the CLI, an idle server) never need them.
//
// RangeChecker (range.go) optionally asks a "Have I Been Pwned"-style k-anonymity range API
// whether a password appeared in a breach; it is the only part of this package that speaks
// HTTP, and it never sends more than the first five hex digits of the password's SHA-1.
package passwords

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed" // the blocklist is compiled in so a deployment cannot run without it
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/myaccount/myaccount/internal/passwords/zxcvbn"
)

// commonGz is the gzipped blocklist, one lower-case password a line, most common first.
// It is a read-only asset (go:embed needs a package-level variable), never mutated.
//
//go:embed common-passwords.txt.gz
var commonGz []byte

// Limits on the embedded data, so a corrupted or replaced asset fails loudly at start-up
// instead of silently weakening (too few entries) or bloating (gzip bomb) the process.
const (
	minEntries      = 10000
	maxDecompressed = 16 << 20 // bytes; the real list is about 380 KB
)

// maxStrengthRunes caps how much of a password zxcvbn looks at. zxcvbn's matchers (l33t
// substitutions in particular) grow much faster than linearly with length, and the strength
// meter runs on every keystroke of an unauthenticated page, so a megabyte "password" must not
// cost seconds of CPU. 64 characters is far beyond what needs a meter to be judged strong.
const maxStrengthRunes = 64

// Scores returned by Strength, zxcvbn's scale: roughly how many guesses an attacker needs
// (below 10^3, 10^6, 10^8, 10^10, and more).
const (
	VeryWeak = 0
	Weak     = 1
	Fair     = 2
	Good     = 3
	Strong   = 4
)

// Checker answers "is this password common?" and "how strong is it?". It is read-only after
// New and safe for concurrent use.
type Checker struct {
	// list builds the blocklist on first use (see New).
	list func() (*blocklist, error)

	// estimator builds zxcvbn's tables on first use (see the package comment).
	estimator func() (*zxcvbn.Estimator, error)
}

// blocklist is sorted for binary search, as one string of all entries back to back (words)
// and each entry's end offset in it (ends): entry i is words[ends[i-1]:ends[i]]. Once built
// it lives for the whole process, so it is kept compact: ~0.55 MB for ~48k entries, where a
// []string of them was ~1.15 MB (a 16-byte header and a separate allocation per entry) and
// a map more again. Lookups stay well under a microsecond.
type blocklist struct {
	words string
	ends  []uint32
}

// entry is the i-th blocklist entry, in sorted order.
func (c *blocklist) entry(i int) string {
	start := uint32(0)
	if i > 0 {
		start = c.ends[i-1]
	}
	return c.words[start:c.ends[i]]
}

// New checks the embedded blocklist: it decompresses and indexes it, failing if it is
// broken. Call it once at start-up and share the Checker; it takes a few tens of
// milliseconds. The index is then dropped and built again by the first Common call, so that
// a process that never checks a password (the CLI, an idle server) does not hold it.
func New() (*Checker, error) {
	if _, err := loadBlocklist(); err != nil {
		return nil, err
	}
	return &Checker{list: sync.OnceValues(loadBlocklist), estimator: sync.OnceValues(zxcvbn.New)}, nil
}

// loadBlocklist decompresses and indexes the embedded blocklist.
func loadBlocklist() (*blocklist, error) {
	zr, err := gzip.NewReader(bytes.NewReader(commonGz))
	if err != nil {
		return nil, fmt.Errorf("passwords: open embedded blocklist: %w", err)
	}
	defer zr.Close()
	raw, err := io.ReadAll(io.LimitReader(zr, maxDecompressed+1))
	if err != nil {
		return nil, fmt.Errorf("passwords: read embedded blocklist: %w", err)
	}
	if len(raw) > maxDecompressed {
		return nil, fmt.Errorf("passwords: embedded blocklist larger than %d bytes", maxDecompressed)
	}
	list := make([]string, 0, bytes.Count(raw, []byte{'\n'})+1)
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		// The file is lower-case already; lowering again keeps Common correct should the
		// file ever be regenerated with a different tool's idea of lower case.
		if line := strings.ToLower(strings.TrimRight(sc.Text(), "\r")); line != "" {
			list = append(list, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("passwords: scan embedded blocklist: %w", err)
	}
	slices.Sort(list)
	list = slices.Compact(list)
	if len(list) < minEntries {
		return nil, fmt.Errorf("passwords: embedded blocklist has %d entries, want at least %d", len(list), minEntries)
	}
	c := &blocklist{ends: make([]uint32, len(list))}
	var b strings.Builder
	for i, w := range list {
		b.WriteString(w)
		c.ends[i] = uint32(b.Len()) // < maxDecompressed, so it fits
	}
	c.words = b.String()
	return c, nil
}

// Len returns the number of distinct passwords on the blocklist.
func (c *Checker) Len() int {
	l, err := c.list()
	if err != nil {
		return 0
	}
	return len(l.ends)
}

// Common reports whether pw is on the blocklist, ignoring case. It also catches the most
// common "make it pass the rules" tweak: one trailing "!" or "1" added to a listed password
// ("Password1", "qwerty!"). Nothing cleverer is attempted (no l33t undoing, no stripping of
// long digit runs): those are what Strength is for, and a blocklist that refuses passwords
// people cannot predict is worse than a short one. The empty password is not "common": the
// length rule rejects it with a clearer message.
func (c *Checker) Common(pw string) bool {
	if pw == "" {
		return false
	}
	l, err := c.list()
	if err != nil {
		// Only a broken build gets here (New checked the embedded list). Refusing is the
		// safe side.
		return true
	}
	p := strings.ToLower(pw)
	if l.has(p) {
		return true
	}
	for _, suffix := range []string{"!", "1"} {
		if base, ok := strings.CutSuffix(p, suffix); ok && base != "" && l.has(base) {
			return true
		}
	}
	return false
}

// has reports whether the lower-cased p is on the list.
func (c *blocklist) has(p string) bool {
	i := sort.Search(len(c.ends), func(i int) bool { return c.entry(i) >= p })
	return i < len(c.ends) && c.entry(i) == p
}

// Strength scores pw from VeryWeak (0) to Strong (4) on zxcvbn's scale. userInputs are words
// the person would be tempted to reuse (their name, email address, the site's name): a
// password built from them scores lower. A password on the blocklist always scores VeryWeak,
// whatever zxcvbn thinks of it, so the meter never praises a password that Common refuses.
// Only the first 64 characters are scored (see maxStrengthRunes); a longer password gets at
// least the score of its prefix, which is already Strong unless the prefix is very weak.
func (c *Checker) Strength(pw string, userInputs ...string) int {
	if pw == "" || c.Common(pw) {
		return VeryWeak
	}
	if utf8.RuneCountInString(pw) > maxStrengthRunes {
		pw = string([]rune(pw)[:maxStrengthRunes])
	}
	var inputs []string
	for _, in := range userInputs {
		in = strings.ToLower(strings.TrimSpace(in))
		if in == "" {
			continue
		}
		inputs = append(inputs, in)
		// An email's local part is what people reuse ("jane.doe" of jane.doe@example.com).
		if local, _, ok := strings.Cut(in, "@"); ok && local != "" {
			inputs = append(inputs, local)
		}
	}
	est, err := c.estimator()
	if err != nil {
		// Only a broken build gets here (the tables are embedded; zxcvbn's
		// TestSameAsUpstream loads them). Scoring nothing as strong is the safe side.
		return VeryWeak
	}
	score := est.PasswordStrength(pw, inputs).Score
	return min(max(score, VeryWeak), Strong)
}

// Hint names a Strength score in plain English for the strength meter: "very weak", "weak",
// "fair", "good" or "strong". The strings double as message keys, so the UI translates them;
// a score outside 0..4 is clamped rather than shown as an empty label.
func Hint(score int) string {
	switch {
	case score <= VeryWeak:
		return "very weak"
	case score == Weak:
		return "weak"
	case score == Fair:
		return "fair"
	case score == Good:
		return "good"
	default:
		return "strong"
	}
}
