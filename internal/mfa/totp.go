package mfa

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // RFC 6238's default, and the only algorithm authenticator apps all support
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"
)

// TOTP parameters. They are what every authenticator app understands (Google Authenticator
// ignores anything else), so they are constants, not options.
const (
	// TOTPDigits is the length of a code.
	TOTPDigits = 6
	// TOTPPeriod is the time step.
	TOTPPeriod = 30 * time.Second
	// TOTPSkew is how many steps either side of the current one are accepted, for clock drift
	// and for a code typed just before it rolled over. One step each way is RFC 6238 §5.2's
	// recommendation; each extra step would triple an attacker's chance per guess.
	TOTPSkew = 1
	// TOTPSecretSize is the secret length in bytes: 160 bits, RFC 4226 §4's recommendation and
	// the size of a SHA-1 block key.
	TOTPSecretSize = 20
	// qrSize is the QR code's width and height in pixels: large enough for a phone camera
	// at arm's length, small enough to embed as a data URL.
	qrSize = 256
)

// totpParams are the parts of the algorithm that the RFC 6238 test vectors vary. Production
// code always uses productionTOTP(); the vector tests use 8 digits.
type totpParams struct {
	digits int
	period int64 // seconds
	skew   int64
}

// productionTOTP returns the parameters every production path uses. It is a function rather
// than a package variable so that nothing can change them at run time.
func productionTOTP() totpParams {
	return totpParams{digits: TOTPDigits, period: int64(TOTPPeriod / time.Second), skew: TOTPSkew}
}

// TOTPEnrolment is what a person needs to add a new TOTP secret to an authenticator app.
type TOTPEnrolment struct {
	// Secret is the raw shared secret; seal it before storing (Service does).
	Secret []byte
	// SecretBase32 is the secret as apps expect it typed in by hand (RFC 4648 base32, no
	// padding).
	SecretBase32 string
	// URL is the otpauth:// key URI the QR code encodes.
	URL string
	// QRCodePNG is a PNG image of the QR code for URL.
	QRCodePNG []byte
}

// QRCodeDataURL returns the QR code as a data: URL for an <img src>. The value is built only
// from base64 characters after a fixed prefix, so a template may mark it safe
// (template.URL) without risk.
func (e *TOTPEnrolment) QRCodeDataURL() string {
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(e.QRCodePNG)
}

// NewTOTPSecret generates a fresh random secret and its key URI and QR code. issuer names the
// service in the app (the product name) and account the person (their email).
func NewTOTPSecret(issuer, account string) (*TOTPEnrolment, error) {
	if strings.TrimSpace(issuer) == "" {
		return nil, errors.New("mfa: totp issuer is empty")
	}
	key := make([]byte, TOTPSecretSize)
	_, _ = rand.Read(key) // never fails since Go 1.24
	return newTOTPEnrolment(key, issuer, account)
}

// newTOTPEnrolment builds the enrolment for a given secret (tests and re-displays use it).
func newTOTPEnrolment(key []byte, issuer, account string) (*TOTPEnrolment, error) {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(key)
	u := totpURL(enc, issuer, account)
	png, err := qrcode.Encode(u, qrcode.Medium, qrSize)
	if err != nil {
		return nil, fmt.Errorf("mfa: totp qr code: %w", err)
	}
	return &TOTPEnrolment{Secret: key, SecretBase32: enc, URL: u, QRCodePNG: png}, nil
}

// totpURL formats the Key Uri Format that Google Authenticator defined and every app reads:
// otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30.
// Spaces are encoded as %20 rather than '+', which several apps show literally.
func totpURL(secretB32, issuer, account string) string {
	label := url.PathEscape(labelPart(issuer)) + ":" + url.PathEscape(labelPart(account))
	q := "secret=" + secretB32 +
		"&issuer=" + queryEscape(labelPart(issuer)) +
		"&algorithm=SHA1&digits=" + strconv.Itoa(TOTPDigits) +
		"&period=" + strconv.Itoa(int(TOTPPeriod/time.Second))
	return "otpauth://totp/" + label + "?" + q
}

// labelPart replaces ':' (the issuer/account separator of the label, which apps split on
// whether or not it is percent-encoded) by the fullwidth colon, which reads the same to a
// person and cannot split the label.
func labelPart(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), ":", "\uFF1A")
}

func queryEscape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// TOTPCode returns the code for secret at time t. Sign-in never needs it (VerifyTOTP
// compares); it exists for tests, including browser tests that type a code.
func TOTPCode(secret []byte, t time.Time) string {
	p := productionTOTP()
	return hotp(secret, uint64(p.step(t)), p.digits)
}

// VerifyTOTP checks code against secret at now, accepting the current time step and TOTPSkew
// steps either side. It returns the step that matched, which the caller must record with
// storage's AcceptTOTPStep so that the code (and every earlier one) cannot be used again:
// VerifyTOTP itself is stateless and would accept a replay. Spaces and dashes in code are
// ignored ("123 456"); anything else that is not exactly TOTPDigits ASCII digits fails.
func VerifyTOTP(secret []byte, code string, now time.Time) (step int64, ok bool) {
	return productionTOTP().verify(secret, code, now)
}

// step returns the RFC 6238 time-step counter T for t (floor division, so instants before
// the epoch would not round towards it).
func (p totpParams) step(t time.Time) int64 {
	s := t.Unix()
	st := s / p.period
	if s%p.period < 0 {
		st--
	}
	return st
}

// verify compares the normalised code against every step of the window in constant time and
// without stopping early, so neither the response time nor its variation tells which step (if
// any) matched. When two steps yield the same code (a one-in-a-million coincidence) the later
// step wins, which is the safe choice for the monotonic replay check.
func (p totpParams) verify(secret []byte, code string, now time.Time) (int64, bool) {
	code = normalizeDigits(code)
	if len(secret) == 0 || len(code) != p.digits || !allDigits(code) {
		return 0, false
	}
	cur := p.step(now)
	var matched int64
	found := 0
	for s := cur - p.skew; s <= cur+p.skew; s++ {
		if s < 0 {
			continue
		}
		eq := subtle.ConstantTimeCompare([]byte(hotp(secret, uint64(s), p.digits)), []byte(code))
		matched = int64(subtle.ConstantTimeSelect(eq, int(s), int(matched)))
		found |= eq
	}
	return matched, found == 1
}

// hotp is RFC 4226 §5.3: HMAC-SHA-1 over the big-endian counter, dynamic truncation, modulo
// 10^digits, left-padded with zeros.
func hotp(key []byte, counter uint64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac := hmac.New(sha1.New, key)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	s := strconv.FormatUint(uint64(bin%mod), 10)
	return strings.Repeat("0", digits-len(s)) + s
}

// normalizeDigits drops the spaces and dashes people type or paste inside numeric codes.
func normalizeDigits(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '\t', '\u00a0':
			return -1
		}
		return r
	}, s)
}

// allDigits reports whether s is all ASCII digits (not other Unicode digits, which strconv
// would also reject but which must never reach a comparison).
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
