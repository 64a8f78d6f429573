// Package osslrsa makes RS256 signatures (RSASSA-PKCS1-v1_5 with SHA-256) through the
// system's OpenSSL 3 libcrypto, about three times faster than Go's constant-time crypto/rsa.
//
// The library is loaded with dlopen when the first Signer is made, not at link time and not
// at start-up: the binary builds without OpenSSL headers, a process that never signs with
// RSA never maps the library, and a machine without it gets an error the caller answers by
// signing with crypto/rsa. Loading runs a self-test (PKCS#1 v1.5 is deterministic, so
// OpenSSL's signature of a fixed digest must equal crypto/rsa's byte for byte), and every
// signature is verified with crypto/rsa before it is returned: a faulty library costs time,
// never a wrong signature.
package osslrsa

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"runtime"
	"sync"
	"unsafe"
)

// Errors returned by Signer.
var (
	// ErrClosed: the Signer was closed.
	ErrClosed = errors.New("osslrsa: signer closed")
	// ErrBadSignature: OpenSSL returned a signature that crypto/rsa does not accept.
	ErrBadSignature = errors.New("osslrsa: OpenSSL signature does not verify")
	// ErrUnsupported: the key or signing options are not RS256 with a two-prime key.
	ErrUnsupported = errors.New("osslrsa: unsupported key or options")
)

// loaded loads and self-tests libcrypto at its first call. It is the package's only state,
// and deliberately global: a process has one dynamic linker and so one copy of the library,
// which every Signer shares, and the self-test need not run more than once.
var loaded = sync.OnceValues(func() (*lib, error) { return load(libNames, goSign) })

// load opens the first usable library of names and self-tests it against reference.
func load(names []string, reference func(*rsa.PrivateKey, []byte) ([]byte, error)) (*lib, error) {
	l, err := open(names)
	if err != nil {
		return nil, err
	}
	if err := selfTest(l, reference); err != nil {
		return nil, err
	}
	return l, nil
}

// Version loads libcrypto if that has not happened yet and returns its version string
// (e.g. "OpenSSL 3.0.19 27 Jan 2026"), or why it cannot be used.
func Version() (string, error) {
	l, err := loaded()
	if err != nil {
		return "", err
	}
	return l.version, nil
}

// A Signer is an RSA private key held by OpenSSL. It implements crypto.Signer for
// PKCS#1 v1.5 signatures over SHA-256 digests and is safe for concurrent use: the
// EVP_PKEY is shared read-only, each signature gets a context of its own.
type Signer struct {
	lib *lib
	pub *rsa.PublicKey

	// mu guards pkey: signatures hold it for reading, Close for writing, so a key is
	// never freed under a signature in progress.
	mu      sync.RWMutex
	pkey    unsafe.Pointer // EVP_PKEY *; nil once closed
	cleanup runtime.Cleanup
}

// keyRef is what the cleanup of an unreachable Signer needs to free its key.
type keyRef struct {
	lib  *lib
	pkey unsafe.Pointer
}

// New loads libcrypto (once per process) and gives it priv. The key's DER encoding goes to
// OpenSSL only and is zeroed afterwards. The key is freed by Close or, failing that, when
// the Signer becomes unreachable. An error means the caller should sign with crypto/rsa.
func New(priv *rsa.PrivateKey) (*Signer, error) {
	l, err := loaded()
	if err != nil {
		return nil, err
	}
	return newSigner(l, priv)
}

func newSigner(l *lib, priv *rsa.PrivateKey) (*Signer, error) {
	if priv == nil || len(priv.Primes) != 2 {
		return nil, fmt.Errorf("%w: want a two-prime RSA key", ErrUnsupported)
	}
	der := x509.MarshalPKCS1PrivateKey(priv)
	pkey, err := l.loadKey(der, priv.Size())
	clear(der)
	if err != nil {
		return nil, err
	}
	s := &Signer{lib: l, pkey: pkey, pub: &rsa.PublicKey{N: new(big.Int).Set(priv.N), E: priv.E}}
	s.cleanup = runtime.AddCleanup(s, func(r keyRef) { r.lib.freeKey(r.pkey) }, keyRef{l, pkey})
	return s, nil
}

// Public returns the public key. It must not be modified.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Sign implements crypto.Signer for PKCS#1 v1.5 over a SHA-256 digest; rand is not used
// (the scheme is deterministic and OpenSSL blinds with its own generator).
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if _, pss := opts.(*rsa.PSSOptions); pss || opts == nil || opts.HashFunc() != crypto.SHA256 {
		return nil, fmt.Errorf("%w: only PKCS#1 v1.5 with SHA-256", ErrUnsupported)
	}
	return s.SignPKCS1v15SHA256(digest)
}

// SignPKCS1v15SHA256 signs a SHA-256 digest with RSASSA-PKCS1-v1_5, as RS256 does. The
// signature is verified with crypto/rsa before it is returned; ErrBadSignature says it
// did not verify.
func (s *Signer) SignPKCS1v15SHA256(digest []byte) ([]byte, error) {
	if len(digest) != sha256.Size {
		return nil, fmt.Errorf("%w: digest of %d bytes, want %d", ErrUnsupported, len(digest), sha256.Size)
	}
	sig := make([]byte, s.pub.Size())
	s.mu.RLock()
	if s.pkey == nil {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	n, err := s.lib.sign(s.pkey, digest, sig)
	s.mu.RUnlock()
	runtime.KeepAlive(s) // the cleanup must not free pkey during the call
	if err != nil {
		return nil, err
	}
	if n != len(sig) {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrBadSignature, n, len(sig))
	}
	if err := rsa.VerifyPKCS1v15(s.pub, crypto.SHA256, digest, sig); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return sig, nil
}

// Close frees the key in OpenSSL. Signing afterwards returns ErrClosed. It is idempotent.
func (s *Signer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pkey == nil {
		return nil
	}
	s.cleanup.Stop()
	s.lib.freeKey(s.pkey)
	s.pkey = nil
	return nil
}

// goSign is the reference the self-test compares OpenSSL with: crypto/rsa's signature.
func goSign(priv *rsa.PrivateKey, digest []byte) ([]byte, error) {
	return rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest)
}
