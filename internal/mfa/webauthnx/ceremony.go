package webauthnx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/storage"
)

// Registration is a newly registered credential.
type Registration struct {
	// Credential is the record to store (NewMFACredential turns it into a storage row).
	Credential *webauthn.Credential
	// UserVerified: the authenticator verified the person while creating the credential.
	UserVerified bool
	// HardwareBound: see Assertion.HardwareBound.
	HardwareBound bool
}

// Assertion is a verified sign-in with a credential.
type Assertion struct {
	// Credential is the credential's record after this sign-in (sign count, flags); Record
	// stores it.
	Credential *webauthn.Credential
	// SignCount is the counter the authenticator reported in this assertion.
	SignCount uint32
	// UserVerified: the UV flag of this assertion's authenticator data, i.e. the authenticator
	// checked a PIN or biometric just now (amr "user"). The credential record's own UV flag
	// says only that it once did, and is not used.
	UserVerified bool
	// HardwareBound: the credential is not backup-eligible (the BE flag, which is signed by
	// the authenticator and cannot change for a credential), so its private key cannot leave
	// the authenticator: amr "hwk". A backup-eligible credential (a synced passkey in a
	// platform or password manager's cloud) may exist on other devices: amr "swk".
	//
	// The authenticator attachment is deliberately not used: it is reported by the browser,
	// unsigned, and a synced phone passkey used over the hybrid transport reports
	// "cross-platform" just like a security key.
	HardwareBound bool
}

// Evidence is what this assertion proves, for mfa.Evidence.Merge.
func (a *Assertion) Evidence() mfa.Evidence {
	return mfa.Evidence{HardwareKey: a.HardwareBound, SoftwareKey: !a.HardwareBound, UserVerified: a.UserVerified}
}

// BeginRegistration starts registering a credential for u and returns the options for
// navigator.credentials.create() (JSON of {"publicKey": …}) and the ceremony state to keep
// server-side. The person's existing credentials are excluded, so one authenticator is not
// registered twice. User verification is preferred: it is what lets a passkey count as two
// factors, but a security key without a PIN is still accepted as a second factor. With
// discoverable, a resident (discoverable) credential is required, so that the passkey works
// for usernameless sign-in; without it one is discouraged, to spare a security key's few
// resident slots when it is only a second factor.
func (w *WebAuthn) BeginRegistration(u *User, discoverable bool) (options, state []byte, err error) {
	sel := protocol.AuthenticatorSelection{
		UserVerification:   protocol.VerificationPreferred,
		ResidentKey:        protocol.ResidentKeyRequirementDiscouraged,
		RequireResidentKey: protocol.ResidentKeyNotRequired(),
	}
	if discoverable {
		sel.ResidentKey = protocol.ResidentKeyRequirementRequired
		sel.RequireResidentKey = protocol.ResidentKeyRequired()
	}
	creation, session, err := w.wa.BeginRegistration(u,
		webauthn.WithAuthenticatorSelection(sel),
		webauthn.WithExclusions(webauthn.Credentials(u.Credentials).CredentialDescriptors()),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("webauthnx: begin registration: %w", err)
	}
	return w.begin(ceremonyRegister, creation, session)
}

// FinishRegistration verifies the browser's response (the JSON of the PublicKeyCredential)
// against the state BeginRegistration returned for the same u. It checks, through the
// library, the challenge, origin, RP ID hash, user presence and the attestation ("none" is
// accepted). The caller must still store the credential with a unique credential id, which
// the store enforces (a credential registered to someone else is ErrConflict there).
func (w *WebAuthn) FinishRegistration(u *User, state, response []byte) (*Registration, error) {
	session, err := decodeState(ceremonyRegister, state)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, verifyErr(err)
	}
	cred, err := w.wa.CreateCredential(u, session, parsed)
	if err != nil {
		return nil, verifyErr(err)
	}
	for _, c := range u.Credentials {
		if bytes.Equal(c.ID, cred.ID) {
			return nil, fmt.Errorf("%w: credential already registered", ErrVerification)
		}
	}
	return &Registration{
		Credential:    cred,
		UserVerified:  parsed.Response.AttestationObject.AuthData.Flags.HasUserVerified(),
		HardwareBound: !cred.Flags.BackupEligible,
	}, nil
}

// BeginLogin starts a second-factor sign-in for u, allowing only u's credentials, and returns
// the options for navigator.credentials.get() and the ceremony state.
func (w *WebAuthn) BeginLogin(u *User) (options, state []byte, err error) {
	if len(u.Credentials) == 0 {
		return nil, nil, fmt.Errorf("%w: the person has no credential", ErrUnknownCredential)
	}
	assertion, session, err := w.wa.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, nil, fmt.Errorf("webauthnx: begin login: %w", err)
	}
	return w.begin(ceremonyLogin, assertion, session)
}

// FinishLogin verifies the browser's response for u against the state BeginLogin returned:
// challenge, origin, RP ID hash, user presence, that the credential is one of u's and the
// signature by its key. A signature counter that did not increase (unless it is zero before
// and after, as for authenticators without counters, such as most synced passkeys) is
// ErrCloned; the Assertion is returned with it so that Record can flag the credential.
func (w *WebAuthn) FinishLogin(u *User, state, response []byte) (*Assertion, error) {
	session, err := decodeState(ceremonyLogin, state)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, verifyErr(err)
	}
	cred, err := w.wa.ValidateLogin(u, session, parsed)
	if err != nil {
		return nil, loginErr(err)
	}
	return assertionOf(u, parsed, cred)
}

// BeginDiscoverableLogin starts a usernameless (passkey) sign-in: no credentials are listed,
// the authenticator offers the person's passkeys for this RP. The state is not bound to any
// user (there is none yet), so it cannot go in mfa.Service.SaveCeremony; keep it server-side
// single use all the same, e.g. with the authorization request.
func (w *WebAuthn) BeginDiscoverableLogin() (options, state []byte, err error) {
	assertion, session, err := w.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, nil, fmt.Errorf("webauthnx: begin discoverable login: %w", err)
	}
	return w.begin(ceremonyDiscoverable, assertion, session)
}

// Lookup finds the person who owns a credential for a usernameless sign-in, from the
// credential id and the user handle the authenticator returned. When there is none it returns
// nil, ErrUnknownCredential or an error wrapping storage.ErrNotFound; any other error is taken
// as a failure of the store. StoreLookup is the implementation over storage: it looks the
// credential up by id, and the library then checks that userHandle equals the found user's
// handle, so a passkey cannot sign in as someone else.
type Lookup func(credentialID, userHandle []byte) (*User, error)

// FinishDiscoverableLogin verifies a usernameless sign-in and returns who signed in, with the
// same checks and ErrCloned rule as FinishLogin.
func (w *WebAuthn) FinishDiscoverableLogin(state, response []byte, lookup Lookup) (*User, *Assertion, error) {
	session, err := decodeState(ceremonyDiscoverable, state)
	if err != nil {
		return nil, nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, nil, verifyErr(err)
	}
	var found *User
	var lookupErr error
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		found, lookupErr = lookup(rawID, userHandle)
		if lookupErr == nil && found == nil {
			lookupErr = ErrUnknownCredential
		}
		if lookupErr != nil {
			return nil, lookupErr
		}
		return found, nil
	}
	_, cred, err := w.wa.ValidatePasskeyLogin(handler, session, parsed)
	switch {
	case errors.Is(lookupErr, ErrUnknownCredential):
		return nil, nil, lookupErr
	case errors.Is(lookupErr, storage.ErrNotFound):
		return nil, nil, fmt.Errorf("%w: %w", ErrUnknownCredential, lookupErr)
	case lookupErr != nil: // the store failed: not the person's fault
		return nil, nil, fmt.Errorf("webauthnx: look up credential: %w", lookupErr)
	}
	if err != nil {
		return nil, nil, loginErr(err)
	}
	a, err := assertionOf(found, parsed, cred)
	return found, a, err
}

// begin serialises the options for the browser and the state for the server.
func (w *WebAuthn) begin(kind string, options any, session *webauthn.SessionData) ([]byte, []byte, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, nil, fmt.Errorf("webauthnx: encode options: %w", err)
	}
	state, err := encodeState(kind, session)
	if err != nil {
		return nil, nil, err
	}
	return opts, state, nil
}

// loginErr maps the library's unknown-credential error to ErrUnknownCredential and anything
// else to ErrVerification.
func loginErr(err error) error {
	var unknown *protocol.ErrorUnknownCredential
	if errors.As(err, &unknown) {
		return fmt.Errorf("%w: %w", ErrUnknownCredential, err)
	}
	return verifyErr(err)
}

// assertionOf builds the Assertion and applies the counter rule. The library only sets
// CloneWarning when the counter fails to increase; MyAccount refuses the sign-in instead,
// because a counter that goes backwards or stands still on a counting authenticator means the
// key was used somewhere this server has not seen.
func assertionOf(u *User, parsed *protocol.ParsedCredentialAssertionData, cred *webauthn.Credential) (*Assertion, error) {
	var stored uint32
	for _, c := range u.Credentials {
		if bytes.Equal(c.ID, cred.ID) {
			stored = c.Authenticator.SignCount
			break
		}
	}
	data := parsed.Response.AuthenticatorData
	a := &Assertion{
		Credential:    cred,
		SignCount:     data.Counter,
		UserVerified:  data.Flags.HasUserVerified(),
		HardwareBound: !cred.Flags.BackupEligible,
	}
	if !counterAdvanced(stored, data.Counter) {
		return a, fmt.Errorf("%w: stored %d, presented %d", ErrCloned, stored, data.Counter)
	}
	return a, nil
}

// counterAdvanced is the sign-count rule: the new count must exceed the stored one, except
// that an authenticator which keeps no counter reports zero every time.
func counterAdvanced(stored, presented uint32) bool {
	return presented > stored || (presented == 0 && stored == 0)
}
