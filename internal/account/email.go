package account

import (
	netmail "net/mail"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Email addresses have one canonical spelling, which is what is stored, looked up and mailed:
// otherwise "ｖictim@example.com" (fullwidth v) and "victim@example.com" are one account for
// uniqueness but two mailboxes for notices. CanonicalEmail is the only place that decides it;
// registration, sign-in, reset, email change and the CLI all go through it.

// idnaProfile maps and validates a domain the way a resolver would (UTS 46 non-transitional,
// STD3 rules, RFC 5893 bidi rule) and yields its A-label form, which every relay accepts.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.ValidateLabels(true),
	idna.StrictDomainName(true),
	idna.VerifyDNSLength(true),
	idna.Transitional(false),
)

// CanonicalEmail returns the canonical spelling of an addr-spec: trimmed, the local part in
// NFKC, the domain through IDNA (lower-case A-labels). It refuses, with ErrInvalidEmail, what
// is not a plain address of sane length, and addresses that can look like another one:
// invisible or bidi-control characters, and letters of mixed scripts in one part.
func CanonicalEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	if email == "" || len(email) > 254 || deceptive(email) {
		return "", ErrInvalidEmail
	}
	at := strings.LastIndexByte(email, '@')
	if at < 1 || at == len(email)-1 {
		return "", ErrInvalidEmail
	}
	local := norm.NFKC.String(email[:at])
	if deceptive(local) || strings.ContainsRune(local, '@') || mixedScript(local) {
		return "", ErrInvalidEmail
	}
	domain, err := idnaProfile.ToASCII(norm.NFKC.String(email[at+1:]))
	if err != nil || domain == "" {
		return "", ErrInvalidEmail
	}
	domain = strings.ToLower(domain)
	if !strings.Contains(domain, ".") && domain != "localhost" {
		return "", ErrInvalidEmail
	}
	for _, label := range strings.Split(domain, ".") {
		u, err := idnaProfile.ToUnicode(label)
		if err != nil || mixedScript(u) {
			return "", ErrInvalidEmail
		}
	}
	canon := local + "@" + domain
	if len(canon) > 254 {
		return "", ErrInvalidEmail
	}
	a, err := netmail.ParseAddress(canon)
	if err != nil || a.Address != canon || a.Name != "" {
		return "", ErrInvalidEmail
	}
	return canon, nil
}

// ValidateEmail accepts what CanonicalEmail accepts.
func ValidateEmail(email string) error {
	_, err := CanonicalEmail(email)
	return err
}

// NormalizeEmail returns the form emails are unique on and looked up by: the canonical
// spelling, lower-cased. An address CanonicalEmail refuses still gets a stable key (NFKC,
// trimmed, lower-cased) so that sign-in with it counts failures like any other address.
func NormalizeEmail(email string) string {
	if c, err := CanonicalEmail(email); err == nil {
		return strings.ToLower(c)
	}
	return strings.ToLower(norm.NFKC.String(strings.TrimSpace(email)))
}

// deceptive reports characters that do not show, or reorder what is shown: controls,
// format characters (zero-width joiners, bidi embeddings, overrides and isolates, soft
// hyphen), variation selectors and other default-ignorable code points, private use, and
// any space.
func deceptive(s string) bool {
	for _, r := range s {
		if r < utf8.RuneSelf {
			// The only ASCII in those classes: controls, the space and DEL
			// (TestEmailASCIIFastPaths). Addresses are mostly ASCII, and the tables cost
			// a search each.
			if r <= ' ' || r == 0x7f {
				return true
			}
			continue
		}
		if r == unicode.ReplacementChar || unicode.IsControl(r) || unicode.IsSpace(r) ||
			unicode.In(r, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zs, unicode.Zl, unicode.Zp,
				unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector,
				unicode.Bidi_Control, unicode.Join_Control) {
			return true
		}
	}
	return false
}

// mixedScript reports letters of more than one script, except the combinations a single
// writing system uses (UTS 39 "highly restrictive": Latin with Han and Japanese kana, with
// Han and Bopomofo, or with Han and Hangul). Common and inherited characters (digits,
// punctuation, combining marks) belong to no script here.
func mixedScript(s string) bool {
	seen := map[string]bool{}
	for _, r := range s {
		if !unicode.IsLetter(r) {
			continue
		}
		name := scriptOf(r)
		if name == "" || name == "Common" || name == "Inherited" {
			continue
		}
		seen[name] = true
	}
	if len(seen) <= 1 {
		return false
	}
	for _, allowed := range [][]string{
		{"Latin", "Han", "Hiragana", "Katakana"},
		{"Latin", "Han", "Bopomofo"},
		{"Latin", "Han", "Hangul"},
	} {
		ok := true
		for name := range seen {
			if !slices.Contains(allowed, name) {
				ok = false
				break
			}
		}
		if ok {
			return false
		}
	}
	return true
}

// scriptOf names the script of the letter r. An ASCII letter is Latin, answered without the
// search through every script's table (a sign-in's email cost 50 µs of it).
func scriptOf(r rune) string {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' {
			return "Latin"
		}
		return ""
	}
	return scriptOfTables(r)
}

func scriptOfTables(r rune) string {
	for name, table := range unicode.Scripts {
		if unicode.Is(table, r) {
			return name
		}
	}
	return ""
}
