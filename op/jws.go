package op

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	jose "github.com/go-jose/go-jose/v4"
)

// compactES256 makes a compact JWS over payload with an ES256 key: what go-jose's signer
// makes, without building a signer and marshalling its header through reflection for every
// token (a third of a client_credentials grant's allocations). The header's members are in
// go-jose's order (alg, kid, typ); TestCompactES256SameAsGoJOSE checks the tokens verify and
// read alike.
func compactES256(k *ecdsa.PrivateKey, kid, typ string, payload []byte) (string, error) {
	if k.Curve != elliptic.P256() {
		return "", errors.New("compact ES256: not a P-256 key")
	}
	return compactJWS("ES256", kid, typ, payload, 64, func(signingInput []byte) ([]byte, error) {
		digest := sha256.Sum256(signingInput)
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			return nil, err
		}
		// RFC 7518 §3.4: R and S as 32-byte big-endian integers, concatenated.
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	})
}

// compactEdDSA is compactES256 for an Ed25519 key. Ed25519 signatures are deterministic, so
// the tokens are byte for byte go-jose's (TestCompactEdDSASameAsGoJOSE); signing costs no
// allocation beyond the token.
func compactEdDSA(k ed25519.PrivateKey, kid, typ string, payload []byte) (string, error) {
	if len(k) != ed25519.PrivateKeySize {
		return "", errors.New("compact EdDSA: not an Ed25519 private key")
	}
	return compactJWS("EdDSA", kid, typ, payload, ed25519.SignatureSize, func(signingInput []byte) ([]byte, error) {
		return ed25519.Sign(k, signingInput), nil
	})
}

// payloadSigner signs a JWS signing input whole (the keys package's RS256 signer, which goes
// through OpenSSL when it can: keys/rsasign.go).
type payloadSigner interface {
	SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error)
}

// compactRS256 is compactES256 for an RS256 key's payload signer: go-jose's header bytes, no
// signer built per token (TestCompactRS256SameAsGoJOSE: PKCS #1 v1.5 is deterministic, so the
// tokens are byte for byte go-jose's).
func compactRS256(k payloadSigner, kid, typ string, payload []byte) (string, error) {
	return compactJWS("RS256", kid, typ, payload, 256, func(signingInput []byte) ([]byte, error) {
		return k.SignPayload(signingInput, jose.RS256)
	})
}

// compactJWS writes header.payload.signature, base64url without padding, sign getting the
// signing input (the first two parts); sigLen is the usual signature length, a capacity hint.
func compactJWS(alg, kid, typ string, payload []byte, sigLen int, sign func(signingInput []byte) ([]byte, error)) (string, error) {
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid,omitempty"`
		Typ string `json:"typ,omitempty"`
	}{alg, kid, typ})
	if err != nil {
		return "", fmt.Errorf("compact %s header: %w", alg, err)
	}
	enc := base64.RawURLEncoding
	hl, pl := enc.EncodedLen(len(header)), enc.EncodedLen(len(payload))
	out := make([]byte, hl+1+pl, hl+1+pl+1+enc.EncodedLen(sigLen))
	enc.Encode(out, header)
	out[hl] = '.'
	enc.Encode(out[hl+1:], payload)
	sig, err := sign(out)
	if err != nil {
		return "", fmt.Errorf("compact %s: %w", alg, err)
	}
	out = append(out, '.')
	out = enc.AppendEncode(out, sig)
	return string(out), nil
}
