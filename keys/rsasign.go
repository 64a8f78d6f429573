package keys

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"sync"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/myaccount/myaccount/internal/osslrsa"
)

// Values of Options.OpenSSL (config keys.openssl).
const (
	// OpenSSLAuto signs RS256 through the system's OpenSSL 3 when it loads and passes its
	// self-test, else with crypto/rsa. The default.
	OpenSSLAuto = "auto"
	// OpenSSLOff always signs RS256 with crypto/rsa.
	OpenSSLOff = "off"
)

// rsaAccel signs SHA-256 digests with RSASSA-PKCS1-v1_5 faster than crypto/rsa. Its one
// implementation is *osslrsa.Signer, which verifies each signature before returning it.
type rsaAccel interface {
	SignPKCS1v15SHA256(digest []byte) ([]byte, error)
}

// rsaSigning is what all RS256 keys of one Manager share: the configured backend and the
// log lines said once per Manager rather than once per signature.
type rsaSigning struct {
	off bool
	log *slog.Logger
	// version loads the accelerator library (once per process) and names it; newAccel
	// hands it one key. osslrsa's in production.
	version  func() (string, error)
	newAccel func(*rsa.PrivateKey) (rsaAccel, error)

	announced sync.Once // the INFO line naming the backend, at the first RS256 signature
	fellBack  sync.Once // the ERROR line when an accelerated signature failed
}

func newRSASigning(mode string, log *slog.Logger) (*rsaSigning, error) {
	r := &rsaSigning{
		log:     log,
		version: osslrsa.Version,
		newAccel: func(priv *rsa.PrivateKey) (rsaAccel, error) {
			return osslrsa.New(priv)
		},
	}
	switch mode {
	case "", OpenSSLAuto:
	case OpenSSLOff:
		r.off = true
	default:
		return nil, fmt.Errorf("keys: OpenSSL mode %q: want %q or %q", mode, OpenSSLAuto, OpenSSLOff)
	}
	return r, nil
}

// accelFor returns a function giving priv's accelerator, made at its first call (so no
// library is loaded before the first RS256 signature) and nil when signing stays with Go.
func (r *rsaSigning) accelFor(kid string, priv *rsa.PrivateKey) func() rsaAccel {
	return sync.OnceValue(func() rsaAccel {
		if r.off {
			return nil
		}
		if _, err := r.version(); err != nil {
			return nil // said once by announce
		}
		a, err := r.newAccel(priv)
		if err != nil {
			r.log.Warn("OpenSSL did not take an RS256 key; it signs with Go", "kid", kid, "err", err)
			return nil
		}
		return a
	})
}

// announce logs once which backend makes RS256 signatures.
func (r *rsaSigning) announce() {
	r.announced.Do(func() {
		if r.off {
			r.log.Info("RS256 signing backend", "backend", "go", "reason", "keys.openssl is off")
			return
		}
		v, err := r.version()
		if err != nil {
			r.log.Info("RS256 signing backend", "backend", "go", "reason", "OpenSSL 3 unavailable", "err", err)
			return
		}
		r.log.Info("RS256 signing backend", "backend", "openssl", "version", v)
	})
}

// JOSESigner returns what go-jose should sign with for this key. For RS256 it is a
// jose.OpaqueSigner that signs through OpenSSL when Options.OpenSSL allows and the library
// loaded, and with crypto/rsa otherwise or when OpenSSL fails; for other algorithms it is
// the private key. Wrapped as jose.JSONWebKey{Key: k.JOSESigner(), KeyID: k.ID()} it puts
// the kid in the JWS header.
func (k *Key) JOSESigner() any {
	if k.rsa == nil {
		return k.priv
	}
	return rsaJOSE{k}
}

// rsaJOSE is an RS256 key as a jose.OpaqueSigner.
type rsaJOSE struct{ k *Key }

var _ jose.OpaqueSigner = rsaJOSE{}

// Public returns the published JWK (public key, kid, alg, use).
func (s rsaJOSE) Public() *jose.JSONWebKey {
	pub := s.k.pub
	return &pub
}

func (s rsaJOSE) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{jose.RS256} }

// SignPayload signs payload with RS256. A failed OpenSSL signature is made again with
// crypto/rsa: a token is never refused for the accelerator's sake.
func (s rsaJOSE) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != jose.RS256 {
		return nil, fmt.Errorf("%w: %s with an RS256 key", ErrUnsupportedAlgorithm, alg)
	}
	k := s.k
	digest := sha256.Sum256(payload)
	k.rsa.announce()
	if a := k.accel(); a != nil {
		sig, err := a.SignPKCS1v15SHA256(digest[:])
		if err == nil {
			return sig, nil
		}
		k.rsa.fellBack.Do(func() {
			k.rsa.log.LogAttrs(context.Background(), slog.LevelError,
				"OpenSSL RS256 signature failed; signing with Go instead (logged once)",
				slog.String("kid", k.id), slog.Any("err", err))
		})
	}
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.priv.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	if err != nil {
		return nil, fmt.Errorf("keys: sign RS256 with %s: %w", k.id, err)
	}
	return sig, nil
}
