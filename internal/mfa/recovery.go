package mfa

import (
	"crypto/rand"
	"strings"

	"github.com/myaccount/myaccount/internal/secret"
)

// Recovery-code shape. A code is RecoveryCodeLen symbols of recoveryAlphabet shown as two
// groups of five ("7kq2m-x9d4a"): 5 bits per symbol, 50 bits per code.
const (
	// RecoveryCodeCount is how many codes a set holds.
	RecoveryCodeCount = 10
	// RecoveryCodeLen is the number of symbols in a code (without the dash).
	RecoveryCodeLen = 10
	// recoveryGroup is where the dash goes when a code is displayed.
	recoveryGroup = 5
	// recoveryAlphabet is Crockford's base32 in lower case: digits and letters without i, l, o
	// and u, so nothing printed can be misread as something else printed. Its 32 symbols make
	// each random byte's low 5 bits a uniform pick, with no modulo bias.
	recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"
)

// NewRecoveryCodes returns a fresh set of RecoveryCodeCount codes to show once, and the
// hashes to store (storage's ReplaceRecoveryCodes).
//
// The hash is HashRecoveryCode: a plain SHA-256 of the normalised code, no salt, no argon2.
// That is enough here, unlike for passwords, because:
//   - each code carries 50 bits from crypto/rand, not human choice, so there is no dictionary
//     to try first: online guessing (rate-limited by Service) is hopeless, and offline a
//     leaked table must be swept exhaustively (2^50 SHA-256 evaluations, GPU-days; without a
//     salt one sweep covers every stored code at once, which the next point makes harmless);
//   - a recovery code is only a second factor: it is worthless without the password, which is
//     argon2id-hashed, so cracking codes from a dump gains nothing alone;
//   - storage looks codes up by hash (UseRecoveryCode marks "WHERE user_id = ? AND hash = ?
//     AND used_at IS NULL", which is what makes a code single-use under concurrency), which
//     needs a deterministic hash; a per-code salt or slow hash would mean loading every code
//     and running up to ten argon2 verifications per attempt.
func NewRecoveryCodes() (plain []string, hashes []string) {
	seen := make(map[string]bool, RecoveryCodeCount)
	for len(plain) < RecoveryCodeCount {
		code := newRecoveryCode()
		if seen[code] { // 1 in 2^50: keep the set free of duplicates, which the store rejects
			continue
		}
		seen[code] = true
		plain = append(plain, code)
		hashes = append(hashes, HashRecoveryCode(code))
	}
	return plain, hashes
}

// newRecoveryCode draws RecoveryCodeLen symbols and formats them as xxxxx-xxxxx.
func newRecoveryCode() string {
	var raw [RecoveryCodeLen]byte
	_, _ = rand.Read(raw[:]) // never fails since Go 1.24
	var b strings.Builder
	b.Grow(RecoveryCodeLen + 1)
	for i, r := range raw {
		if i == recoveryGroup {
			b.WriteByte('-')
		}
		b.WriteByte(recoveryAlphabet[r&31])
	}
	return b.String()
}

// NormalizeRecoveryCode returns the canonical form of a typed code (RecoveryCodeLen symbols,
// lower case, no separators) and whether it is well formed. It forgives what people do when
// copying a code from paper: any case, spaces, dashes and underscores anywhere, and the
// Crockford look-alikes o → 0 and i, l → 1.
func NormalizeRecoveryCode(s string) (string, bool) {
	var b strings.Builder
	b.Grow(RecoveryCodeLen)
	for _, r := range strings.ToLower(s) {
		switch r {
		case ' ', '-', '_', '\t', '\u00a0', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2212':
			continue
		case 'o':
			r = '0'
		case 'i', 'l':
			r = '1'
		}
		if !strings.ContainsRune(recoveryAlphabet, r) {
			return "", false
		}
		if b.Len() == RecoveryCodeLen {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != RecoveryCodeLen {
		return "", false
	}
	return b.String(), true
}

// HashRecoveryCode returns the lookup hash of a code as typed or as generated; see
// NewRecoveryCodes for why SHA-256 is the right hash. A malformed code hashes to "", which no
// stored code has.
func HashRecoveryCode(code string) string {
	n, ok := NormalizeRecoveryCode(code)
	if !ok {
		return ""
	}
	return secret.HashToken(n)
}
