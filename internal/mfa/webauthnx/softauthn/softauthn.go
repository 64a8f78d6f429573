// Package softauthn is a software WebAuthn authenticator for tests: an ECDSA P-256
// credential that answers navigator.credentials.create() and get() options the way a browser
// and a FIDO2 key would, building clientDataJSON, authenticator data, the CBOR attestation
// object ("none") and the assertion signature per WebAuthn Level 3 §6.1, §6.5 and §7.
//
// It is test-only (nothing in the server imports it): webauthnx's unit tests and the
// server's end-to-end tests, which post its responses to the real JSON endpoints, share it.
// A Key's exported fields are knobs for tests that break one rule at a time.
package softauthn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// TB is the part of testing.TB the authenticator uses to fail a test.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// Key is one credential on a software authenticator.
type Key struct {
	Priv       *ecdsa.PrivateKey
	CredID     []byte
	UserHandle []byte
	// Counter is reported by the next ceremony, then incremented (unless NoCounter). Copying
	// a Key and using both copies makes a cloned authenticator.
	Counter   uint32
	NoCounter bool // always report 0, like most synced passkeys

	// Flags reported in authenticator data.
	UserPresent, UserVerified, BackupEligible, BackupState bool
	// Attachment is the authenticatorAttachment the "browser" reports.
	Attachment string
}

// New returns a fresh key: a cross-platform security key that verifies its user (a PIN) and
// counts signatures from 1.
func New(t TB) *Key {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	return &Key{Priv: priv, CredID: id, Counter: 1, UserPresent: true, UserVerified: true, Attachment: "cross-platform"}
}

// Client is what the browser contributes: the origin it runs on and the RP ID it passes to
// the authenticator (which the authenticator hashes into authenticator data).
type Client struct {
	Origin string
	RPID   string
	// Challenge, when set, replaces the challenge from the options (a response for another
	// ceremony).
	Challenge string
}

var b64 = base64.RawURLEncoding

func (k *Key) flags(attested bool) byte {
	var f byte
	set := func(ok bool, bit byte) {
		if ok {
			f |= bit
		}
	}
	set(k.UserPresent, 0x01)
	set(k.UserVerified, 0x04)
	set(k.BackupEligible, 0x08)
	set(k.BackupState, 0x10)
	set(attested, 0x40)
	return f
}

// authData is rpIdHash ‖ flags ‖ signCount, followed for registration by the attested
// credential data: AAGUID (zero) ‖ credential id length ‖ credential id ‖ COSE public key.
func (k *Key) authData(t TB, rpID string, attested bool) []byte {
	t.Helper()
	h := sha256.Sum256([]byte(rpID))
	out := append([]byte{}, h[:]...)
	out = append(out, k.flags(attested))
	count := k.Counter
	if k.NoCounter {
		count = 0
	}
	out = binary.BigEndian.AppendUint32(out, count)
	if !k.NoCounter {
		k.Counter++
	}
	if attested {
		out = append(out, make([]byte, 16)...) // AAGUID
		out = binary.BigEndian.AppendUint16(out, uint16(len(k.CredID)))
		out = append(out, k.CredID...)
		pub, err := k.Priv.PublicKey.ECDH()
		if err != nil {
			t.Fatal(err)
		}
		point := pub.Bytes() // 0x04 ‖ X ‖ Y
		cose, err := webauthncbor.Marshal(map[int]any{
			1: 2, 3: -7, // kty EC2, alg ES256
			-1: 1, -2: point[1:33], -3: point[33:65], // crv P-256, x, y
		})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cose...)
	}
	return out
}

func clientData(t TB, typ, challenge, origin string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ChallengeOf reads publicKey.challenge (base64url, as sent to the browser) from options.
func ChallengeOf(t TB, options []byte) string {
	t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil || o.PublicKey.Challenge == "" {
		t.Fatalf("options without a challenge: %s (%v)", options, err)
	}
	return o.PublicKey.Challenge
}

// Create answers registration options ({"publicKey": …}), returning the PublicKeyCredential
// JSON. It remembers the user handle from the options, as a discoverable credential would.
func (k *Key) Create(t TB, options []byte, c Client) []byte {
	t.Helper()
	var o struct {
		PublicKey struct {
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatal(err)
	}
	handle, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		t.Fatalf("user.id is not base64url: %v", err)
	}
	k.UserHandle = handle
	challenge := ChallengeOf(t, options)
	if c.Challenge != "" {
		challenge = c.Challenge
	}
	cdj := clientData(t, "webauthn.create", challenge, c.Origin)
	att, err := webauthncbor.Marshal(map[string]any{
		"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(t, c.RPID, true),
	})
	if err != nil {
		t.Fatal(err)
	}
	return k.response(t, map[string]any{
		"clientDataJSON":    b64.EncodeToString(cdj),
		"attestationObject": b64.EncodeToString(att),
		"transports":        []string{"usb"},
	})
}

// Get answers assertion options ({"publicKey": …}), signing
// authenticatorData ‖ SHA-256(clientDataJSON).
func (k *Key) Get(t TB, options []byte, c Client) []byte {
	t.Helper()
	challenge := ChallengeOf(t, options)
	if c.Challenge != "" {
		challenge = c.Challenge
	}
	cdj := clientData(t, "webauthn.get", challenge, c.Origin)
	ad := k.authData(t, c.RPID, false)
	h := sha256.Sum256(cdj)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.Priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return k.response(t, map[string]any{
		"clientDataJSON":    b64.EncodeToString(cdj),
		"authenticatorData": b64.EncodeToString(ad),
		"signature":         b64.EncodeToString(sig),
		"userHandle":        b64.EncodeToString(k.UserHandle),
	})
}

func (k *Key) response(t TB, resp map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.CredID), "rawId": b64.EncodeToString(k.CredID), "type": "public-key",
		"authenticatorAttachment": k.Attachment, "response": resp, "clientExtensionResults": map[string]any{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
