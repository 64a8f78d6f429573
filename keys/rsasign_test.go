package keys

import (
	"bytes"
	"crypto/rsa"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/myaccount/myaccount/internal/osslrsa"
)

// logBuffer collects a Manager's log lines as JSON.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the logged lines containing every one of parts.
func (b *logBuffer) lines(parts ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for line := range strings.Lines(b.buf.String()) {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// rsaManager returns an ensured Manager with the given OpenSSL mode, logging into the
// returned buffer.
func rsaManager(t *testing.T, mode string) (*Manager, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	m, err := NewManager(newFakeStore(), testMasterKey(t), Options{
		OpenSSL: mode,
		Logger:  slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	mustEnsure(t, m)
	return m, logs
}

// requireOpenSSL skips where the system has no OpenSSL 3, and fails on CI (CI=true).
func requireOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := osslrsa.Version(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("OpenSSL 3 is required on CI (CI=true): %v", err)
		}
		t.Skipf("SKIPPING, NO OPENSSL 3: %v", err)
	}
}

// signJOSE makes a compact JWS the way op and backchannel do: the key's JOSESigner in a
// JWK carrying the kid.
func signJOSE(t *testing.T, k *Key, payload string) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg(), Key: &jose.JSONWebKey{Key: k.JOSESigner(), KeyID: k.ID()}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestJOSESigner: with either backend, tokens carry the kid, verify against the published
// JWKS, and (PKCS#1 v1.5 being deterministic) are byte for byte what crypto/rsa makes.
func TestJOSESigner(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{OpenSSLAuto, OpenSSLOff} {
		t.Run(mode, func(t *testing.T) {
			if mode == OpenSSLAuto {
				requireOpenSSL(t)
			}
			t.Parallel()
			m, _ := rsaManager(t, mode)
			for _, alg := range []string{"RS256", "ES256"} {
				k := mustSigner(t, m, alg)
				tok := signJOSE(t, k, "payload")
				if err := verifyWithJWKS(t, m, tok); err != nil {
					t.Fatalf("%s: %v", alg, err)
				}
				jws, err := jose.ParseSigned(tok, m.Algorithms())
				if err != nil {
					t.Fatal(err)
				}
				if h := jws.Signatures[0].Header; h.KeyID != k.ID() || h.Algorithm != alg {
					t.Fatalf("%s: header kid %q alg %q, want %q %q", alg, h.KeyID, h.Algorithm, k.ID(), alg)
				}
				if alg != "RS256" {
					continue
				}
				s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg(), Key: &jose.JSONWebKey{Key: k.Private(), KeyID: k.ID()}},
					(&jose.SignerOptions{}).WithType("JWT"))
				if err != nil {
					t.Fatal(err)
				}
				want, _ := s.Sign([]byte("payload"))
				if w, _ := want.CompactSerialize(); w != tok {
					t.Fatalf("RS256 token differs from crypto/rsa's:\n got %s\nwant %s", tok, w)
				}
			}
		})
	}
}

// TestRSABackendChosen: keys.openssl decides the backend, which is logged once at the first
// RS256 signature and not before (nothing is loaded at start-up).
func TestRSABackendChosen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode, backend string
		accel         bool
	}{
		{OpenSSLOff, `"backend":"go"`, false},
		{OpenSSLAuto, `"backend":"openssl"`, true},
		{"", `"backend":"openssl"`, true},
	} {
		t.Run("mode="+tc.mode, func(t *testing.T) {
			if tc.accel {
				requireOpenSSL(t)
			}
			t.Parallel()
			m, logs := rsaManager(t, tc.mode)
			if got := logs.lines("RS256 signing backend"); len(got) != 0 {
				t.Fatalf("backend logged before any signature: %q", got)
			}
			k := mustSigner(t, m, "RS256")
			for range 3 {
				if err := verifyWithJWKS(t, m, signJOSE(t, k, "payload")); err != nil {
					t.Fatal(err)
				}
			}
			if got := logs.lines("RS256 signing backend", tc.backend, `"level":"INFO"`); len(got) != 1 {
				t.Fatalf("backend lines with %s: %q, want exactly one; log:\n%s", tc.backend, got, logs.lines(""))
			}
			if got := k.accel() != nil; got != tc.accel {
				t.Fatalf("OpenSSL signer made: %v, want %v", got, tc.accel)
			}
		})
	}
}

// failingAccel stands for an OpenSSL that loaded but fails, or whose signature did not
// verify (osslrsa reports both as errors).
type failingAccel struct{ calls *int }

func (f failingAccel) SignPKCS1v15SHA256([]byte) ([]byte, error) {
	*f.calls++
	return nil, osslrsa.ErrBadSignature
}

// TestRSAFallback: when the library is missing the key signs with Go and says why once; when
// an OpenSSL signature fails the token is signed with Go instead and the failure is logged
// once, not once per token.
func TestRSAFallback(t *testing.T) {
	t.Parallel()
	t.Run("library missing", func(t *testing.T) {
		t.Parallel()
		m, logs := rsaManager(t, OpenSSLAuto)
		m.rsa.version = func() (string, error) { return "", errors.New("osslrsa: load libcrypto: no such file") }
		m.rsa.newAccel = func(*rsa.PrivateKey) (rsaAccel, error) {
			t.Error("newAccel called although the library did not load")
			return nil, errors.New("unreachable")
		}
		k := mustSigner(t, m, "RS256")
		for range 2 {
			if err := verifyWithJWKS(t, m, signJOSE(t, k, "payload")); err != nil {
				t.Fatal(err)
			}
		}
		if got := logs.lines("RS256 signing backend", `"backend":"go"`, "no such file"); len(got) != 1 {
			t.Fatalf("fallback lines: %q, want one naming the cause", got)
		}
	})
	t.Run("signature fails", func(t *testing.T) {
		t.Parallel()
		m, logs := rsaManager(t, OpenSSLAuto)
		calls := 0
		m.rsa.version = func() (string, error) { return "OpenSSL 3.test", nil }
		m.rsa.newAccel = func(*rsa.PrivateKey) (rsaAccel, error) { return failingAccel{&calls}, nil }
		k := mustSigner(t, m, "RS256")
		for range 3 {
			if err := verifyWithJWKS(t, m, signJOSE(t, k, "payload")); err != nil {
				t.Fatal(err)
			}
		}
		if calls != 3 {
			t.Fatalf("OpenSSL tried %d times, want 3 (each signature tries it first)", calls)
		}
		if got := logs.lines("OpenSSL RS256 signature failed", `"level":"ERROR"`, k.ID()); len(got) != 1 {
			t.Fatalf("failure lines: %q, want exactly one", got)
		}
	})
	t.Run("key refused", func(t *testing.T) {
		t.Parallel()
		m, logs := rsaManager(t, OpenSSLAuto)
		m.rsa.version = func() (string, error) { return "OpenSSL 3.test", nil }
		m.rsa.newAccel = func(*rsa.PrivateKey) (rsaAccel, error) { return nil, osslrsa.ErrUnsupported }
		k := mustSigner(t, m, "RS256")
		if err := verifyWithJWKS(t, m, signJOSE(t, k, "payload")); err != nil {
			t.Fatal(err)
		}
		if got := logs.lines("OpenSSL did not take an RS256 key", k.ID()); len(got) != 1 {
			t.Fatalf("refusal lines: %q, want one", got)
		}
	})
}

func TestJOSESignerRefusesOtherAlgorithms(t *testing.T) {
	t.Parallel()
	m, _ := rsaManager(t, OpenSSLOff)
	s, ok := mustSigner(t, m, "RS256").JOSESigner().(jose.OpaqueSigner)
	if !ok {
		t.Fatal("RS256 JOSESigner is not a jose.OpaqueSigner")
	}
	if _, err := s.SignPayload([]byte("x"), jose.PS256); !errors.Is(err, ErrUnsupportedAlgorithm) {
		t.Fatalf("PS256: got %v, want ErrUnsupportedAlgorithm", err)
	}
	if _, ok := mustSigner(t, m, "ES256").JOSESigner().(jose.OpaqueSigner); ok {
		t.Fatal("ES256 JOSESigner should be the private key")
	}
}

func TestNewManagerOpenSSLMode(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"", OpenSSLAuto, OpenSSLOff} {
		if _, err := NewManager(newFakeStore(), testMasterKey(t), Options{OpenSSL: mode}); err != nil {
			t.Errorf("mode %q: %v", mode, err)
		}
	}
	for _, mode := range []string{"on", "Auto", "go"} {
		if _, err := NewManager(newFakeStore(), testMasterKey(t), Options{OpenSSL: mode}); err == nil {
			t.Errorf("mode %q accepted", mode)
		}
	}
}

// BenchmarkSignRS256Backend signs an ID-token-sized JWS through JOSESigner with each backend.
func BenchmarkSignRS256Backend(b *testing.B) {
	payload := []byte(`{"iss":"https://myaccount.example","sub":"user","aud":"client","exp":1735732800}`)
	for _, mode := range []string{OpenSSLOff, OpenSSLAuto} {
		b.Run(mode, func(b *testing.B) {
			m, err := NewManager(newFakeStore(), testMasterKey(b), Options{OpenSSL: mode})
			if err != nil {
				b.Fatal(err)
			}
			mustEnsure(b, m)
			k := mustSigner(b, m, "RS256")
			for b.Loop() {
				s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg(), Key: &jose.JSONWebKey{Key: k.JOSESigner(), KeyID: k.ID()}}, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Sign(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
