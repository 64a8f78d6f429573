// Package guard holds the named, counter-based guards of the sign-in and account flows: the
// single-use ones (a TOTP enrolment adds one app, new recovery codes are shown once, a passkey
// challenge is answered once) and the rate limits (emailed sign-in codes per person, device
// code guesses per IP). Each rule's key, window and limit are defined here once; the counters
// live in SQL (storage.CounterStore), so they hold across restarts and instances, and an
// increment is atomic, so parallel requests cannot slip past a limit.
package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/myaccount/myaccount/internal/addrkey"
	"github.com/myaccount/myaccount/internal/mfa"
)

// Rule names a guard.
type Rule int

// The rules.
const (
	// TOTPEnrolment: one pending authenticator-app enrolment adds one app, even when the
	// form is sent twice. Subject: the pending enrolment blob.
	TOTPEnrolment Rule = iota + 1
	// CodesShown: freshly generated recovery codes are shown once; a replayed copy of the
	// cookie that carried them finds its nonce used. Subject: the cookie's nonce.
	CodesShown
	// PasskeyChallenge: a passkey sign-in challenge is answered once. Subject: the
	// ceremony state.
	PasskeyChallenge
	// EmailCode: at most a few sign-in codes are emailed to a person per window, so the
	// form cannot be used to flood a mailbox. Subject: the user id.
	EmailCode
	// DeviceCodeGuess: user codes are short, so guesses per client IP are limited; every
	// well-formed code counts, whether it exists or not. Subject: the client IP.
	DeviceCodeGuess
)

type spec struct {
	name   string
	prefix string // the counter key's prefix; part of stored data, keep stable
	window time.Duration
	limit  int
	hash   bool // key on the subject's SHA-256 (long or secret subjects)
}

func (r Rule) spec() spec {
	switch r {
	case TOTPEnrolment:
		// As long as the pending enrolment itself is valid.
		return spec{"totp enrolment", "totp-enrol:", mfa.TOTPEnrolmentTTL, 1, true}
	case CodesShown:
		return spec{"recovery codes shown", "codes-shown:", 10 * time.Minute, 1, false}
	case PasskeyChallenge:
		return spec{"passkey challenge", "passkey-challenge:", mfa.CeremonyTTL, 1, true}
	case EmailCode:
		return spec{"email code", "mfa-email:", 10 * time.Minute, 3, false}
	case DeviceCodeGuess:
		return spec{"device code guess", "device_code_ip:", 15 * time.Minute, 20, false}
	}
	if sp, ok := licenceSpec(r); ok {
		return sp
	}
	if sp, ok := smsSpec(r); ok {
		return sp
	}
	panic(fmt.Sprintf("guard: unknown rule %d", int(r)))
}

// String names the rule for logs.
func (r Rule) String() string { return r.spec().name }

// Window is how long the rule's count lasts; a single-use item must not outlive it.
func (r Rule) Window() time.Duration { return r.spec().window }

// Limit is how many uses a window allows (1 for the single-use rules).
func (r Rule) Limit() int { return r.spec().limit }

// Key is the counter key of subject under the rule. A rule per client address counts the
// address as addrkey.LimitKey does (an IPv6 /64 as one).
func (r Rule) Key(subject string) string {
	sp := r.spec()
	switch r {
	case DeviceCodeGuess, LicenceRedeemIP, SMSIP:
		subject = addrkey.LimitKey(subject)
	}
	if sp.hash {
		sum := sha256.Sum256([]byte(subject))
		subject = hex.EncodeToString(sum[:])
	}
	return sp.prefix + subject
}

// Counter is the storage the guards need.
type Counter interface {
	HitCounter(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
}

// Guard applies the rules over a counter store.
type Guard struct {
	Store Counter
	Now   func() time.Time
}

// Allow counts one use of subject under the rule and reports whether it is within the
// rule's limit (for a single-use rule: whether this is the first use). The count is made
// first, atomically, so parallel calls cannot all pass. A storage failure is returned
// (wrapped), never answered as "refused": the caller decides, and it reaches the error
// mapping as ours.
func (g *Guard) Allow(ctx context.Context, r Rule, subject string) (bool, error) {
	now := time.Now()
	if g.Now != nil {
		now = g.Now()
	}
	n, err := g.Store.HitCounter(ctx, r.Key(subject), r.Window(), now.UTC())
	if err != nil {
		return false, fmt.Errorf("guard %s: %w", r, err)
	}
	return n <= r.Limit(), nil
}
