// Package mfa holds MyAccount's second-factor rules: TOTP (RFC 6238), recovery codes, emailed
// sign-in codes, single-use ceremony state, and the policy that turns what a person did in a
// sign-in into OIDC amr and acr values and decides what must happen next.
//
// It knows nothing of HTTP (the layering test holds that): the ui package calls it with plain
// values. The WebAuthn ceremonies live in the subpackage webauthnx, because the go-webauthn
// library they build on imports net/http itself; webauthnx depends on this package, never the
// other way round.
//
// Every secret a person presents back (recovery codes, emailed codes, ceremony handles) is
// stored as a SHA-256 hash, TOTP secrets are sealed under the master key, and single use is
// decided by SQL (storage's AcceptTOTPStep, UseRecoveryCode and ConsumeOneTimeToken), so two
// racing requests on two instances cannot both win.
package mfa
