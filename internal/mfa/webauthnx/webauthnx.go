// Package webauthnx runs MyAccount's WebAuthn ceremonies (security keys and passkeys) on top
// of github.com/go-webauthn/webauthn, with the rules the library leaves to the relying party:
// configuration from the issuer URL, ceremony state serialised for single-use storage in SQL,
// a refusal (ErrCloned) rather than a warning when a sign count fails to increase, and the
// hwk/swk/user evidence for the amr claim.
//
// It is a subpackage of internal/mfa rather than part of it only because go-webauthn's
// protocol and webauthn packages import net/http (for helpers this package never calls), and
// internal/mfa must stay free of it. Nothing here touches an HTTP request: callers pass the
// JSON the browser sent.
package webauthnx

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/myaccount/myaccount/internal/mfa"
)

// Errors, matched with errors.Is.
var (
	// ErrVerification: the browser's response does not verify (wrong origin, RP ID,
	// challenge, signature, missing user presence, …). The wrapped library error says which,
	// for the log; the person is only told it did not work.
	ErrVerification = errors.New("webauthnx: verification failed")
	// ErrCloned: the authenticator's signature counter did not increase. Two copies of the
	// key may exist; the credential must be flagged (Record does) and may not sign in again.
	ErrCloned = errors.New("webauthnx: signature counter did not increase (possibly cloned authenticator)")
	// ErrSession: the ceremony state is malformed or belongs to another kind of ceremony.
	ErrSession = errors.New("webauthnx: invalid ceremony state")
	// ErrUnknownCredential: the credential presented is not one the person (or anyone, for a
	// usernameless sign-in) has registered.
	ErrUnknownCredential = errors.New("webauthnx: unknown credential")
)

// WebAuthn is MyAccount's relying party. It holds no per-ceremony state: each Begin returns
// the state for the caller to keep in SQL, single use (mfa.Service.SaveCeremony), and each
// Finish takes it back.
type WebAuthn struct {
	wa     *webauthn.WebAuthn
	rpID   string
	origin string
}

// New configures the relying party from the issuer URL and the product name. The RP ID is the
// issuer's host without port (credentials are bound to it),
// the only accepted origin is the issuer's scheme://host[:port], and the display name is what
// the browser shows while creating a credential. The issuer must be https, except on
// localhost, which browsers treat as a secure context.
func New(issuer, displayName string) (*WebAuthn, error) {
	rpID, origin, err := rpFromIssuer(issuer)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(displayName) == "" {
		return nil, errors.New("webauthnx: empty relying party display name")
	}
	cfg := &webauthn.Config{
		RPID:          rpID,
		RPDisplayName: displayName,
		RPOrigins:     []string{origin},
		// Attestation is not requested: MyAccount does not restrict authenticator models, and
		// attestation would identify the person's device model for no benefit.
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			UserVerification: protocol.VerificationPreferred,
		},
		// Ceremonies expire with the state that mfa keeps for them.
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: mfa.CeremonyTTL, TimeoutUVD: mfa.CeremonyTTL},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: mfa.CeremonyTTL, TimeoutUVD: mfa.CeremonyTTL},
		},
	}
	wa, err := webauthn.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("webauthnx: configure: %w", err)
	}
	return &WebAuthn{wa: wa, rpID: rpID, origin: origin}, nil
}

// RPID returns the relying party id (the issuer's host).
func (w *WebAuthn) RPID() string { return w.rpID }

// Origin returns the one origin responses must come from.
func (w *WebAuthn) Origin() string { return w.origin }

// rpFromIssuer derives the RP ID and origin. A default port is dropped from the origin,
// because browsers serialise https://h:443 as https://h and the comparison is exact.
func rpFromIssuer(issuer string) (rpID, origin string, err error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return "", "", fmt.Errorf("webauthnx: issuer %q: %w", issuer, err)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" || u.Opaque != "" {
		return "", "", fmt.Errorf("webauthnx: issuer %q has no host", issuer)
	}
	if net.ParseIP(host) != nil {
		return "", "", fmt.Errorf("webauthnx: issuer %q: an IP address cannot be a WebAuthn RP ID", issuer)
	}
	local := host == "localhost" || strings.HasSuffix(host, ".localhost")
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && local:
	default:
		return "", "", fmt.Errorf("webauthnx: issuer %q: WebAuthn needs https (or http on localhost)", issuer)
	}
	hostport := host
	if p := u.Port(); p != "" && !(u.Scheme == "https" && p == "443") && !(u.Scheme == "http" && p == "80") {
		hostport = net.JoinHostPort(host, p)
	}
	return host, u.Scheme + "://" + hostport, nil
}

// UserHandle returns the WebAuthn user handle for a MyAccount user id. The handle is stored
// by authenticators and returned at usernameless sign-in; the spec asks that it be random and
// carry no personal data such as an email. A user id already is 128 random bits (secret.NewID)
// that never change, so it is used as is: no column to add, nothing to keep in sync, and a
// passkey keeps working across email changes.
func UserHandle(userID string) []byte { return []byte(userID) }

// User is the account as WebAuthn sees it. It implements webauthn.User.
type User struct {
	// Handle is UserHandle(user id).
	Handle []byte
	// Name is the account name the authenticator shows in its account picker (the email).
	Name string
	// DisplayName is the person's name; Name is used when empty.
	DisplayName string
	// Credentials are the person's usable credentials (Credentials(rows) gives them): excluded
	// from registration, allowed at second-factor sign-in.
	Credentials []webauthn.Credential
}

var _ webauthn.User = (*User)(nil)

// WebAuthnID returns the user handle.
func (u *User) WebAuthnID() []byte { return u.Handle }

// WebAuthnName returns the account name.
func (u *User) WebAuthnName() string { return u.Name }

// WebAuthnDisplayName returns the display name, or the account name when there is none.
func (u *User) WebAuthnDisplayName() string {
	if strings.TrimSpace(u.DisplayName) == "" {
		return u.Name
	}
	return u.DisplayName
}

// WebAuthnCredentials returns the person's credentials.
func (u *User) WebAuthnCredentials() []webauthn.Credential { return u.Credentials }

// Ceremony kinds, recorded in the state so that state from one kind of ceremony cannot finish
// another.
const (
	ceremonyRegister     = "register"
	ceremonyLogin        = "login"
	ceremonyDiscoverable = "discoverable"
)

// ceremonyState is what Begin returns as state: the library's session data (the challenge,
// the user handle, the allowed credentials, the expiry) and the kind of ceremony.
type ceremonyState struct {
	Ceremony string               `json:"ceremony"`
	Session  webauthn.SessionData `json:"session"`
}

func encodeState(kind string, s *webauthn.SessionData) ([]byte, error) {
	b, err := json.Marshal(ceremonyState{Ceremony: kind, Session: *s})
	if err != nil {
		return nil, fmt.Errorf("webauthnx: encode state: %w", err)
	}
	return b, nil
}

func decodeState(kind string, state []byte) (webauthn.SessionData, error) {
	var cs ceremonyState
	if err := json.Unmarshal(state, &cs); err != nil {
		return webauthn.SessionData{}, fmt.Errorf("%w: %w", ErrSession, err)
	}
	if cs.Ceremony != kind || cs.Session.Challenge == "" {
		return webauthn.SessionData{}, fmt.Errorf("%w: state of a %q ceremony, want %q", ErrSession, cs.Ceremony, kind)
	}
	return cs.Session, nil
}

// verifyErr wraps a library error as ErrVerification, keeping its developer detail (which
// check failed) for the log; protocol.Error's own message omits it.
func verifyErr(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.DevInfo != "" {
		return fmt.Errorf("%w: %w (%s)", ErrVerification, err, pe.DevInfo)
	}
	return fmt.Errorf("%w: %w", ErrVerification, err)
}
