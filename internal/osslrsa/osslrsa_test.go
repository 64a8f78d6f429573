package osslrsa

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

// requireLib returns the process's libcrypto, skipping the test where there is none, but
// failing it on CI (CI=true), where .ci/run installs libssl3.
func requireLib(t testing.TB) *lib {
	t.Helper()
	l, err := loaded()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("osslrsa: libcrypto (OpenSSL 3) is required on CI (CI=true): %v; Debian: apt-get install libssl3", err)
		}
		t.Skipf("osslrsa: SKIPPING, NO OPENSSL 3: %v", err)
	}
	return l
}

func genKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatalf("generate %d-bit key: %v", bits, err)
	}
	return k
}

func randomDigest(t testing.TB) []byte {
	t.Helper()
	msg := make([]byte, 1+len(t.Name())%97)
	if _, err := rand.Read(msg); err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(msg)
	return d[:]
}

// TestSignEqualsCryptoRSA: PKCS#1 v1.5 is deterministic, so OpenSSL's signatures must be
// crypto/rsa's byte for byte, over random keys of several sizes (1026 bits gives modulus
// and signatures with a leading zero byte, which OpenSSL must still pad to full size) and
// random and extreme digests.
func TestSignEqualsCryptoRSA(t *testing.T) {
	requireLib(t)
	t.Parallel()
	sizes := []int{2048, 2048, 2048, 1024, 1024, 1024, 1026, 1026, 1026, 1026, 3072}
	for _, bits := range sizes {
		priv := genKey(t, bits)
		s, err := New(priv)
		if err != nil {
			t.Fatalf("New(%d bits): %v", bits, err)
		}
		digests := [][]byte{make([]byte, 32), bytes.Repeat([]byte{0xff}, 32)}
		for range 24 {
			digests = append(digests, randomDigest(t))
		}
		for _, d := range digests {
			got, err := s.SignPKCS1v15SHA256(d)
			if err != nil {
				t.Fatalf("%d bits: sign %x: %v", bits, d, err)
			}
			want, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, d)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%d bits, digest %x:\n got %x\nwant %x", bits, d, got, want)
			}
			if err := rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, d, got); err != nil {
				t.Fatalf("%d bits: signature does not verify: %v", bits, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCryptoSigner: the crypto.Signer face signs RS256 and refuses anything else.
func TestCryptoSigner(t *testing.T) {
	requireLib(t)
	t.Parallel()
	priv := genKey(t, 2048)
	s, err := New(priv)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var signer crypto.Signer = s
	if !priv.PublicKey.Equal(signer.Public()) {
		t.Fatal("Public() is not the key's public key")
	}
	d := randomDigest(t)
	sig, err := signer.Sign(rand.Reader, d, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, d, sig); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	for _, tc := range []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
	}{
		{"pss", d, &rsa.PSSOptions{Hash: crypto.SHA256}},
		{"sha1", d[:20], crypto.SHA1},
		{"sha384", make([]byte, 48), crypto.SHA384},
		{"short digest", d[:31], crypto.SHA256},
		{"nil opts", d, nil},
	} {
		if _, err := signer.Sign(rand.Reader, tc.digest, tc.opts); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: got %v, want ErrUnsupported", tc.name, err)
		}
	}
}

// TestConcurrentSign: one Signer shared by 16 goroutines gives every one of them correct
// signatures (the EVP_PKEY is shared, each call has its own context).
func TestConcurrentSign(t *testing.T) {
	requireLib(t)
	t.Parallel()
	priv := genKey(t, 2048)
	s, err := New(priv)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 8 {
				d := sha256.Sum256([]byte{byte(g), byte(i)})
				got, err := s.SignPKCS1v15SHA256(d[:])
				if err != nil {
					errs <- err
					return
				}
				want, _ := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, d[:])
				if !bytes.Equal(got, want) {
					errs <- errors.New("concurrent signature differs from crypto/rsa's")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestWrongSignatureRefused: a signature that does not verify under the public key is an
// error, never returned. OpenSSL will not sign wrongly on request, so the Signer is given
// another key's public half.
func TestWrongSignatureRefused(t *testing.T) {
	l := requireLib(t)
	t.Parallel()
	s, err := newSigner(l, genKey(t, 1024))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.pub = &genKey(t, 1024).PublicKey
	sig, err := s.SignPKCS1v15SHA256(randomDigest(t))
	if !errors.Is(err, ErrBadSignature) || sig != nil {
		t.Fatalf("got %x, %v; want nil, ErrBadSignature", sig, err)
	}
}

// TestSelfTest: the load-time self-test accepts this libcrypto against crypto/rsa and
// refuses it against a reference that differs in one bit.
func TestSelfTest(t *testing.T) {
	l := requireLib(t)
	t.Parallel()
	if err := selfTest(l, goSign); err != nil {
		t.Fatalf("self-test against crypto/rsa: %v", err)
	}
	flipped := func(priv *rsa.PrivateKey, d []byte) ([]byte, error) {
		sig, err := goSign(priv, d)
		if err == nil {
			sig[len(sig)/2] ^= 0x10
		}
		return sig, err
	}
	if err := selfTest(l, flipped); err == nil || !strings.Contains(err.Error(), "self-test failed") {
		t.Fatalf("self-test against a wrong reference: got %v, want a self-test failure", err)
	}
	broken := func(*rsa.PrivateKey, []byte) ([]byte, error) { return nil, errors.New("no") }
	if err := selfTest(l, broken); err == nil {
		t.Fatal("self-test passed although the reference failed")
	}
}

func TestSameSignature(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		a, b    []byte
		wantErr bool
	}{
		{"equal", []byte{1, 2, 3}, []byte{1, 2, 3}, false},
		{"one bit", []byte{1, 2, 3}, []byte{1, 2, 2}, true},
		{"shorter", []byte{1, 2}, []byte{1, 2, 3}, true},
		{"leading zero dropped", []byte{2, 3}, []byte{0, 2, 3}, true},
		{"empty", nil, []byte{0}, true},
	} {
		if err := sameSignature(tc.a, tc.b); (err != nil) != tc.wantErr {
			t.Errorf("%s: got %v, want error %v", tc.name, err, tc.wantErr)
		}
	}
}

// TestLoadFailures: a library that is missing, or that is not libcrypto, is an error (the
// caller then signs with crypto/rsa), never a crash.
func TestLoadFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		names []string
		want  string
	}{
		{"missing", []string{"libosslrsa-no-such-library.so.3"}, "libosslrsa-no-such-library.so.3"},
		{"not libcrypto", []string{"libc.so.6"}, "symbol OPENSSL_version_major not found"},
		{"none", nil, "load libcrypto"},
	} {
		l, err := load(tc.names, goSign)
		if err == nil || l != nil {
			t.Errorf("%s: got %v, %v; want an error", tc.name, l, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not mention %q", tc.name, err, tc.want)
		}
	}
}

func TestClose(t *testing.T) {
	requireLib(t)
	t.Parallel()
	s, err := New(genKey(t, 1024))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.SignPKCS1v15SHA256(randomDigest(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("sign after Close: got %v, want ErrClosed", err)
	}
}

func TestNewRefuses(t *testing.T) {
	requireLib(t)
	t.Parallel()
	if _, err := New(nil); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("New(nil): got %v, want ErrUnsupported", err)
	}
}

func TestVersion(t *testing.T) {
	requireLib(t)
	v, err := Version()
	if err != nil || !strings.HasPrefix(v, "OpenSSL 3.") {
		t.Fatalf("Version() = %q, %v; want OpenSSL 3.x", v, err)
	}
}
