package osslrsa

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
)

// BenchmarkRS256 compares crypto/rsa with OpenSSL for one RSA-2048 RS256 signature.
// "openssl" is what callers get (sign, then verify with crypto/rsa); "openssl-unverified"
// is the bare OpenSSL call. Pin to one core to compare: taskset -c 0 go test -bench .
func BenchmarkRS256(b *testing.B) {
	l := requireLib(b)
	priv := genKey(b, 2048)
	s, err := newSigner(l, priv)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	d := sha256.Sum256([]byte("benchmark"))
	b.Run("go", func(b *testing.B) {
		for b.Loop() {
			if _, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, d[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go+verify", func(b *testing.B) {
		for b.Loop() {
			sig, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, d[:])
			if err != nil {
				b.Fatal(err)
			}
			if err := rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, d[:], sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("openssl-unverified", func(b *testing.B) {
		sig := make([]byte, priv.Size())
		for b.Loop() {
			if _, err := l.sign(s.pkey, d[:], sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("openssl", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.SignPKCS1v15SHA256(d[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("openssl-parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.SignPKCS1v15SHA256(d[:]); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
