package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// ErrOpen reports a sealed key that cannot be opened: wrong master key, wrong kid, or
// tampered or truncated data. The causes are deliberately indistinguishable.
var ErrOpen = errors.New("keys: cannot open sealed key (wrong master key or tampered data)")

// Sealer encrypts private signing keys at rest with AES-256-GCM under the master key, so a
// leaked database (or backup) does not leak signing keys. The key id is the additional
// authenticated data: a sealed key moved onto another kid does not open.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer for a 32-byte master key.
func NewSealer(masterKey []byte) (*Sealer, error) {
	if len(masterKey) != MasterKeySize {
		return nil, fmt.Errorf("%w: %d bytes, need exactly %d", ErrInvalidMasterKey, len(masterKey), MasterKeySize)
	}
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, fmt.Errorf("keys: master key cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keys: master key cipher: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext for kid and returns nonce||ciphertext (a fresh random 96-bit nonce
// per call; we seal a handful of keys, far below GCM's random-nonce limit).
func (s *Sealer) Seal(kid string, plaintext []byte) ([]byte, error) {
	if kid == "" {
		return nil, errors.New("keys: seal: empty kid")
	}
	ns := s.aead.NonceSize()
	out := make([]byte, ns, ns+len(plaintext)+s.aead.Overhead())
	_, _ = rand.Read(out) // never fails since Go 1.24
	return s.aead.Seal(out, out, plaintext, []byte(kid)), nil
}

// Open decrypts what Seal returned for the same kid. Any mismatch (master key, kid, data)
// returns an error wrapping ErrOpen.
func (s *Sealer) Open(kid string, sealed []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < ns+s.aead.Overhead() {
		return nil, fmt.Errorf("%w: kid %s: too short", ErrOpen, kid)
	}
	pt, err := s.aead.Open(nil, sealed[:ns], sealed[ns:], []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("%w: kid %s", ErrOpen, kid)
	}
	return pt, nil
}
