package webauthnx

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// softKey is a software authenticator: an ECDSA P-256 credential that answers
// navigator.credentials.create() and get() options the way a browser and a FIDO2 key would,
// building clientDataJSON, authenticator data, the CBOR attestation object ("none") and the
// assertion signature per WebAuthn Level 3 §6.1, §6.5 and §7. Its fields are knobs for the
// tests that break one rule at a time.
type softKey struct {
	priv       *ecdsa.PrivateKey
	credID     []byte
	userHandle []byte
	counter    uint32 // reported by the next ceremony, then incremented (unless zero-counter)
	noCounter  bool   // always report 0, like most synced passkeys

	// Flags reported in authenticator data.
	userPresent, userVerified, backupEligible, backupState bool
	// attachment is the authenticatorAttachment the "browser" reports.
	attachment string
}

func newSoftKey(t *testing.T) *softKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	return &softKey{priv: priv, credID: id, counter: 1, userPresent: true, userVerified: true, attachment: "cross-platform"}
}

// client is what the browser contributes: the origin it runs on and the RP ID it passes to
// the authenticator (which the authenticator hashes into authenticator data).
type client struct {
	origin string
	rpID   string
	// challenge, when set, replaces the challenge from the options (a response for another
	// ceremony).
	challenge string
}

var b64 = base64.RawURLEncoding

func (k *softKey) flags(attested bool) byte {
	var f byte
	set := func(ok bool, bit byte) {
		if ok {
			f |= bit
		}
	}
	set(k.userPresent, 0x01)
	set(k.userVerified, 0x04)
	set(k.backupEligible, 0x08)
	set(k.backupState, 0x10)
	set(attested, 0x40)
	return f
}

// authData is rpIdHash ‖ flags ‖ signCount, followed for registration by the attested
// credential data: AAGUID (zero) ‖ credential id length ‖ credential id ‖ COSE public key.
func (k *softKey) authData(t *testing.T, rpID string, attested bool) []byte {
	t.Helper()
	h := sha256.Sum256([]byte(rpID))
	out := append([]byte{}, h[:]...)
	out = append(out, k.flags(attested))
	count := k.counter
	if k.noCounter {
		count = 0
	}
	out = binary.BigEndian.AppendUint32(out, count)
	if !k.noCounter {
		k.counter++
	}
	if attested {
		out = append(out, make([]byte, 16)...) // AAGUID
		out = binary.BigEndian.AppendUint16(out, uint16(len(k.credID)))
		out = append(out, k.credID...)
		pub, err := k.priv.PublicKey.ECDH()
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

func clientData(t *testing.T, typ, challenge, origin string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// challengeOf reads publicKey.challenge (base64url, as sent to the browser) from options.
func challengeOf(t *testing.T, options []byte) string {
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

// create answers registration options, returning the PublicKeyCredential JSON.
func (k *softKey) create(t *testing.T, options []byte, c client) []byte {
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
	k.userHandle = handle
	challenge := challengeOf(t, options)
	if c.challenge != "" {
		challenge = c.challenge
	}
	cdj := clientData(t, "webauthn.create", challenge, c.origin)
	att, err := webauthncbor.Marshal(map[string]any{
		"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(t, c.rpID, true),
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

// get answers assertion options, signing authenticatorData ‖ SHA-256(clientDataJSON).
func (k *softKey) get(t *testing.T, options []byte, c client) []byte {
	t.Helper()
	challenge := challengeOf(t, options)
	if c.challenge != "" {
		challenge = c.challenge
	}
	cdj := clientData(t, "webauthn.get", challenge, c.origin)
	ad := k.authData(t, c.rpID, false)
	h := sha256.Sum256(cdj)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return k.response(t, map[string]any{
		"clientDataJSON":    b64.EncodeToString(cdj),
		"authenticatorData": b64.EncodeToString(ad),
		"signature":         b64.EncodeToString(sig),
		"userHandle":        b64.EncodeToString(k.userHandle),
	})
}

func (k *softKey) response(t *testing.T, resp map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.credID), "rawId": b64.EncodeToString(k.credID), "type": "public-key",
		"authenticatorAttachment": k.attachment, "response": resp, "clientExtensionResults": map[string]any{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
