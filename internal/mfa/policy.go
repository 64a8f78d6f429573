package mfa

import "slices"

// Authentication Context Class References: the two assurance levels MyAccount asserts in the
// acr claim and accepts in acr_values.
const (
	// ACR1FA: one factor (a password, a passkey without user verification, an emailed code).
	ACR1FA = "urn:myaccount:acr:1fa"
	// ACRMFA: at least two factors of different kinds (see Evidence.MFA).
	ACRMFA = "urn:myaccount:acr:mfa"
)

// Authentication Method Reference values (RFC 8176) that MyAccount puts in the amr claim.
const (
	AMRPassword    = "pwd"  // the account password
	AMROTP         = "otp"  // a TOTP code or a recovery code
	AMRHardwareKey = "hwk"  // a WebAuthn key that cannot leave its authenticator
	AMRSoftwareKey = "swk"  // a WebAuthn key that may be synced (a synced passkey)
	AMRUser        = "user" // the authenticator verified the user (PIN or biometric)
	AMRMFA         = "mfa"  // two or more factors of different kinds
	// AMREmail is an emailed one-time code. RFC 8176 registers no value for it (its "otp"
	// is read by relying parties as an authenticator app), so this is a MyAccount value, as
	// RFC 8176 §2 allows by agreement.
	AMREmail = "email"
)

// Evidence records what a person proved during a sign-in (or across a sign-in and a later
// step-up). Its zero value proves nothing.
type Evidence struct {
	Password bool // the password was checked
	OTP      bool // a TOTP code or a recovery code was accepted
	// EmailCode: a code sent to the account's email address was entered. It proves control
	// of the mailbox, which is also the channel for password resets, so pwd + email is not
	// two independent factors; NIST SP 800-63B §5.1.3.1 likewise rules email out as an
	// out-of-band authenticator. It therefore never counts towards MFA.
	EmailCode bool
	// SMSCode: a code sent by SMS to the verified number was entered (sms.go): weaker still,
	// and never towards MFA either.
	SMSCode bool
	// HardwareKey / SoftwareKey: a WebAuthn assertion was verified with a credential that is
	// not / is backup-eligible (webauthnx documents the rule).
	HardwareKey bool
	SoftwareKey bool
	// UserVerified: the WebAuthn authenticator reported user verification (the UV flag) in
	// the same assertion. Without a key it means nothing and is ignored.
	UserVerified bool
}

// Merge returns the union of two sets of evidence, for a step-up on top of an SSO session.
func (e Evidence) Merge(o Evidence) Evidence {
	return Evidence{
		Password:     e.Password || o.Password,
		OTP:          e.OTP || o.OTP,
		EmailCode:    e.EmailCode || o.EmailCode,
		SMSCode:      e.SMSCode || o.SMSCode,
		HardwareKey:  e.HardwareKey || o.HardwareKey,
		SoftwareKey:  e.SoftwareKey || o.SoftwareKey,
		UserVerified: e.UserVerified || o.UserVerified,
	}
}

func (e Evidence) key() bool { return e.HardwareKey || e.SoftwareKey }

// factors counts the distinct kinds of factor, which is what "multi-factor" means: knowing
// something (the password), having something (an authenticator app, recovery-code sheet or
// WebAuthn key), and the authenticator's own user verification (a PIN or biometric bound to
// that key). Two factors of one kind (say TOTP and a recovery code) are still one factor.
func (e Evidence) factors() int {
	n := 0
	if e.Password {
		n++
	}
	if e.OTP || e.key() {
		n++
	}
	if e.UserVerified && e.key() {
		n++
	}
	return n
}

// MFA reports whether the evidence reaches the multi-factor level: password + TOTP or
// recovery code, password + WebAuthn key, or a WebAuthn key with user verification (a passkey
// unlocked by PIN or biometric is possession plus knowledge or inherence).
func (e Evidence) MFA() bool { return e.factors() >= 2 }

// AMR returns the amr claim: every method used, in a fixed order, plus "mfa" when MFA holds.
// nil when nothing was proved.
func (e Evidence) AMR() []string {
	var amr []string
	add := func(ok bool, v string) {
		if ok {
			amr = append(amr, v)
		}
	}
	add(e.Password, AMRPassword)
	add(e.OTP, AMROTP)
	add(e.EmailCode, AMREmail)
	add(e.SMSCode, AMRSMS)
	add(e.HardwareKey, AMRHardwareKey)
	add(e.SoftwareKey, AMRSoftwareKey)
	add(e.UserVerified && e.key(), AMRUser)
	add(e.MFA(), AMRMFA)
	return amr
}

// ACR returns the acr claim: ACRMFA when MFA holds, ACR1FA when anything was proved, "" when
// nothing was.
func (e Evidence) ACR() string {
	switch {
	case e.MFA():
		return ACRMFA
	case e.factors() > 0 || e.EmailCode || e.SMSCode:
		return ACR1FA
	}
	return ""
}

// EvidenceFromAMR rebuilds the evidence behind a stored amr (an SSO session's), so that a
// step-up can Merge new evidence into it. Unknown values are ignored; "mfa" is derived, never
// read. For every amr that AMR produces, EvidenceFromAMR(amr).AMR() gives it back.
func EvidenceFromAMR(amr []string) Evidence {
	has := func(v string) bool { return slices.Contains(amr, v) }
	return Evidence{
		Password:     has(AMRPassword),
		OTP:          has(AMROTP),
		EmailCode:    has(AMREmail),
		SMSCode:      has(AMRSMS),
		HardwareKey:  has(AMRHardwareKey),
		SoftwareKey:  has(AMRSoftwareKey),
		UserVerified: has(AMRUser),
	}
}

// acrRank orders the levels; 0 means not one of ours.
func acrRank(acr string) int {
	switch acr {
	case ACR1FA:
		return 1
	case ACRMFA:
		return 2
	}
	return 0
}

// Requirement is what an authorization request demands of a sign-in.
type Requirement struct {
	// ClientRequiresMFA is the client's require-MFA setting (storage.Client.RequireMFA).
	ClientRequiresMFA bool
	// ACRValues is the request's acr_values, in the client's order of preference.
	ACRValues []string
}

// NeedsMFA reports whether the request can only be satisfied at the MFA level: the client
// requires it, or acr_values names ACRMFA and not the lower ACR1FA. acr_values lists levels
// the client would accept, so the least demanding one we recognise is what it needs; values
// that are not ours are ignored (OIDC Core §3.1.2.1 makes acr_values voluntary).
func (r Requirement) NeedsMFA() bool {
	if r.ClientRequiresMFA {
		return true
	}
	least := 0
	for _, v := range r.ACRValues {
		if k := acrRank(v); k > 0 && (least == 0 || k < least) {
			least = k
		}
	}
	return least == acrRank(ACRMFA)
}

// Satisfies reports whether a session (or sign-in) with this acr meets the requirement: any
// level of ours meets a request without an MFA need, and only ACRMFA meets one with it. An
// empty or foreign acr meets nothing.
func Satisfies(acr string, r Requirement) bool {
	have := acrRank(acr)
	if have == 0 {
		return false
	}
	return !r.NeedsMFA() || have >= acrRank(ACRMFA)
}

// Method is a way to prove one more factor, as offered on the sign-in page.
type Method string

// Methods, in the order NextStep offers them (strongest first).
const (
	MethodPassword     Method = "password"
	MethodWebAuthn     Method = "webauthn"
	MethodTOTP         Method = "totp"
	MethodRecoveryCode Method = "recovery_code"
	MethodEmailCode    Method = "email_code"
)

// Enrolled is what second factors a person has set up.
type Enrolled struct {
	TOTP          int // TOTP credentials
	WebAuthn      int // WebAuthn credentials that are not flagged as cloned
	RecoveryCodes int // unused recovery codes
	// EmailCode: the person chose emailed codes as their second factor (they have no
	// stronger one). The caller decides this from the account's preference.
	EmailCode bool
	// SMS: the person has a verified number and mfa.sms offers SMS to them (the caller
	// decides: fallback sets it only when the person has no strong factor).
	SMS bool
}

// Strong reports whether the person has a factor that counts towards MFA (recovery codes
// alone do not: they are the fallback of such a factor).
func (e Enrolled) Strong() bool { return e.TOTP > 0 || e.WebAuthn > 0 }

// Step is what a sign-in must do next.
type Step int

const (
	// StepDone: the sign-in may complete with done's AMR and ACR.
	StepDone Step = iota
	// StepVerify: ask for one more factor among Decision.Methods.
	StepVerify
	// StepEnrol: the request needs MFA and the person has no factor that provides it; send
	// them to set one up, or answer the client with "unmet_authentication_requirements"
	// (OpenID Connect Unmet Authentication Requirements 1.0).
	StepEnrol
)

// Decision is NextStep's answer.
type Decision struct {
	Step    Step
	Methods []Method // for StepVerify: what may be offered, strongest first
}

// NextStep decides what a sign-in must do after the evidence gathered so far (done):
//   - MFA reached: done.
//   - A key was used without user verification and no password: ask for the password, the
//     missing factor. Nothing proved at all: ask for the password too.
//   - Password only, and a strong factor enrolled: ask for WebAuthn, TOTP or a recovery code
//     (never the emailed code: it would let whoever holds the mailbox bypass the enrolled
//     factor). A trusted browser ("remember this browser") skips this, except when the request
//     needs MFA: skipping then would assert a level nobody proved.
//   - Password only, emailed codes chosen: ask for one (trusted browser skips), unless the
//     request needs MFA, which emailed codes cannot give: enrol.
//   - Otherwise: enrol when the request needs MFA, else done.
func NextStep(enrolled Enrolled, done Evidence, req Requirement, trustedBrowser bool) Decision {
	needMFA := req.NeedsMFA()
	switch {
	case done.MFA():
		return Decision{Step: StepDone}
	case !done.Password: // a key without UV, a lone code, or nothing yet
		return Decision{Step: StepVerify, Methods: []Method{MethodPassword}}
	case enrolled.Strong(): // done is the password (and perhaps an emailed code) here
		if (trustedBrowser || done.SMSCode) && !needMFA {
			return Decision{Step: StepDone}
		}
		var m []Method
		if enrolled.WebAuthn > 0 {
			m = append(m, MethodWebAuthn)
		}
		if enrolled.TOTP > 0 {
			m = append(m, MethodTOTP)
		}
		if enrolled.RecoveryCodes > 0 {
			m = append(m, MethodRecoveryCode)
		}
		if enrolled.SMS && !needMFA { // mfa.sms: enabled; the weakest, so last
			m = append(m, MethodSMSCode)
		}
		return Decision{Step: StepVerify, Methods: m}
	case needMFA:
		return Decision{Step: StepEnrol}
	case (enrolled.EmailCode || enrolled.SMS) && !done.EmailCode && !done.SMSCode && !trustedBrowser:
		var m []Method
		if enrolled.EmailCode {
			m = append(m, MethodEmailCode)
		}
		if enrolled.SMS {
			m = append(m, MethodSMSCode)
		}
		return Decision{Step: StepVerify, Methods: m}
	}
	return Decision{Step: StepDone}
}
