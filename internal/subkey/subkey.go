// Package subkey is the one place that derives purpose keys from the master key (HKDF-SHA256,
// one info string per purpose). Consumers get the one key they need, never the master key,
// so a leak of one purpose's key (a CSRF token forger, say) opens nothing else. The info
// strings are part of the stored and issued data (cookies, captchas, opaque tokens): changing
// one invalidates everything made under it, so each carries a version.
package subkey

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Purpose names what a key is for; its value is the HKDF info string.
type Purpose string

// The purposes. The strings are those the keys were always derived with: existing cookies,
// captchas and tokens stay valid.
const (
	// CSRF signs the UI's CSRF tokens.
	CSRF Purpose = "myaccount csrf v1"
	// SealedCookies encrypts the UI's sealed cookies (pending sign-in, trusted browser, ...).
	SealedCookies Purpose = "myaccount ui sealed cookies v1"
	// DeviceCookie signs device cookies (OWASP "device cookies", per-browser lockout).
	DeviceCookie Purpose = "myaccount device cookie v1"
	// OpaqueAccessTokens encrypts opaque access tokens (op).
	OpaqueAccessTokens Purpose = "myaccount opaque access tokens v1"
	// Captcha signs captcha challenges.
	Captcha Purpose = "myaccount captcha v1"
	// PhoneCodes keys the hashes of the codes sent by SMS (internal/phone).
	PhoneCodes Purpose = "myaccount phone codes v1"
	// DPoPNonce signs the DPoP-Nonce values the token endpoint hands out (op, RFC 9449 §8):
	// every instance recognises every other's nonces without shared state.
	DPoPNonce Purpose = "myaccount dpop nonce v1"
)

// Size is the length of every derived key and of the master key.
const Size = 32

// ErrMasterKey is a master key of the wrong size.
var ErrMasterKey = errors.New("subkey: master key must be 32 bytes")

// Deriver derives purpose keys from a master key. It is held by the composition root only.
type Deriver struct {
	master []byte
}

// New returns a Deriver over a copy of the 32-byte master key.
func New(master []byte) (*Deriver, error) {
	if len(master) != Size {
		return nil, fmt.Errorf("%w, not %d", ErrMasterKey, len(master))
	}
	return &Deriver{master: append([]byte(nil), master...)}, nil
}

// Key returns the 32-byte key for purpose p; the same master key and purpose always give
// the same bytes.
func (d *Deriver) Key(p Purpose) []byte {
	if p == "" {
		panic("subkey: empty purpose")
	}
	k, err := hkdf.Key(sha256.New, d.master, nil, string(p), Size)
	if err != nil {
		// hkdf.Key fails only for a key length beyond 255 hash lengths; ours is fixed.
		panic(fmt.Sprintf("subkey: derive %q: %v", p, err))
	}
	return k
}
