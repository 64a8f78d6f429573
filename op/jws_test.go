package op

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"math/big"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// goJOSECompact is the compact JWS go-jose's signer makes over payload.
func goJOSECompact(t *testing.T, alg jose.SignatureAlgorithm, k any, kid, typ string, payload []byte) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	key := k
	if kid != "" {
		key = &jose.JSONWebKey{Key: k, KeyID: kid}
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// compactES256 writes what go-jose writes: the same header bytes and payload, a signature
// go-jose verifies (ECDSA signatures are randomised, so those differ), and no other key
// verifies it.
func TestCompactES256SameAsGoJOSE(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct{ kid, typ string }{{"kid1", "at+jwt"}, {"kid2", ""}, {"", "JWT"}, {`q"uote\`, "at+jwt"}} {
		payload := []byte(`{"iss":"https://id.example","sub":"s","exp":1}`)
		got, err := compactES256(k, tc.kid, tc.typ, payload)
		if err != nil {
			t.Fatal(err)
		}
		want := goJOSECompact(t, jose.ES256, k, tc.kid, tc.typ, payload)
		g, w := strings.Split(got, "."), strings.Split(want, ".")
		if len(g) != 3 || g[0] != w[0] || g[1] != w[1] || len(g[2]) != len(w[2]) {
			t.Errorf("%+v:\n got %s\nwant %s", tc, got, want)
		}
		parsed, err := jose.ParseSigned(got, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		if out, err := parsed.Verify(&k.PublicKey); err != nil || string(out) != string(payload) {
			t.Errorf("%+v: does not verify with the key: %v", tc, err)
		}
		if _, err := parsed.Verify(&other.PublicKey); err == nil {
			t.Errorf("%+v: verifies with another key", tc)
		}
		if h := parsed.Signatures[0].Header; h.KeyID != tc.kid || h.Algorithm != "ES256" {
			t.Errorf("%+v: header %+v", tc, h)
		}
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := compactES256(p384, "k", "JWT", []byte("{}")); err == nil {
		t.Error("a P-384 key signed as ES256")
	}
}

// compactEdDSA writes exactly what go-jose writes (Ed25519 is deterministic), the token
// verifies with the key and not with another, and a key of the wrong size is refused.
func TestCompactEdDSASameAsGoJOSE(t *testing.T) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct{ kid, typ string }{{"kid1", "at+jwt"}, {"kid2", ""}, {"", "JWT"}, {`q"uote\`, "at+jwt"}} {
		payload := []byte(`{"iss":"https://id.example","sub":"s","exp":1}`)
		got, err := compactEdDSA(k, tc.kid, tc.typ, payload)
		if err != nil {
			t.Fatal(err)
		}
		if want := goJOSECompact(t, jose.EdDSA, k, tc.kid, tc.typ, payload); got != want {
			t.Errorf("%+v:\n got %s\nwant %s", tc, got, want)
		}
		parsed, err := jose.ParseSigned(got, []jose.SignatureAlgorithm{jose.EdDSA})
		if err != nil {
			t.Fatal(err)
		}
		if out, err := parsed.Verify(k.Public()); err != nil || string(out) != string(payload) {
			t.Errorf("%+v: does not verify with the key: %v", tc, err)
		}
		if _, err := parsed.Verify(otherPub); err == nil {
			t.Errorf("%+v: verifies with another key", tc)
		}
	}
	if _, err := compactEdDSA(k[:32], "k", "JWT", []byte("{}")); err == nil {
		t.Error("a 32-byte seed signed as an Ed25519 private key")
	}
}

// rsaPayloadSigner is what keys.Key.JOSESigner gives for RS256, with crypto/rsa.
type rsaPayloadSigner struct{ k *rsa.PrivateKey }

func (s rsaPayloadSigner) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != jose.RS256 {
		return nil, errors.New("not RS256")
	}
	d := sha256.Sum256(payload)
	return rsa.SignPKCS1v15(nil, s.k, crypto.SHA256, d[:])
}

// compactRS256 writes exactly what go-jose writes (PKCS #1 v1.5 signatures are
// deterministic), and a failed signature is an error, not a token.
func TestCompactRS256SameAsGoJOSE(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ kid, typ string }{{"kid1", "JWT"}, {"kid2", ""}, {"", "at+jwt"}, {`q"uote\`, "JWT"}} {
		payload := []byte(`{"iss":"https://id.example","sub":"s","exp":1,"at_hash":"x"}`)
		got, err := compactRS256(rsaPayloadSigner{k}, tc.kid, tc.typ, payload)
		if err != nil {
			t.Fatal(err)
		}
		if want := goJOSECompact(t, jose.RS256, k, tc.kid, tc.typ, payload); got != want {
			t.Errorf("%+v:\n got %s\nwant %s", tc, got, want)
		}
	}
	bad := rsaPayloadSigner{&rsa.PrivateKey{PublicKey: rsa.PublicKey{N: big.NewInt(0), E: 3}}}
	if tok, err := compactRS256(bad, "k", "JWT", []byte("{}")); err == nil {
		t.Errorf("a failed signature gave a token: %s", tok)
	}
}

func BenchmarkSignES256(b *testing.B) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	payload := []byte(`{"aud":["c"],"client_id":"c","exp":1796473854,"gty":"client_credentials","iat":1796472954,"iss":"https://id.example","jti":"j","sub":"c"}`)
	b.Run("compact", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := compactES256(k, "kid", "at+jwt", payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("eddsa", func(b *testing.B) {
		_, ek, _ := ed25519.GenerateKey(rand.Reader)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := compactEdDSA(ek, "kid", "at+jwt", payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-jose", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: &jose.JSONWebKey{Key: k, KeyID: "kid"}},
				(&jose.SignerOptions{}).WithType("at+jwt"))
			jws, err := s.Sign(payload)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := jws.CompactSerialize(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
