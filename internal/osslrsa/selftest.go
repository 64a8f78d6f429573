package osslrsa

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// selfTestKey is a fixed RSA-2048 key made for this self-test and published with the source:
// it signs nothing but selfTestMessage's digest and protects nothing.
const selfTestKey = `
-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAsEz0W3uSVyGN3DmeGnKoL9XNNaQWM9sEjOF6haQ1G9ehcu6G
JHUmTKCRhn2/aWhLTYszedikds8G6E/It9CeIfDv5L4LWgLp/tT2AIIHJMVB6/Vz
rXlq6+Hj7rCS6dGKq8MkYYhOTLCdkr9MHfxAC/lns/huUMEguWL0Bj/etiJmldNQ
lgUiBtiqiDrlnFBns1rCunAricYk5ePpmqUBNIg9FKLPandXwKO0DOcUNwysJjrp
26naPXNYkvnNI+oOiHJfuREhhnnZs7gnJtTqBQnxh2ppaNNyv4MCb8fCEvZaLy1o
eOgE4AwQybkwIYKxtIVzxtPBiF0M1V478IB8ZQIDAQABAoIBACbGvkYyzzSf2jJS
b+5UQp7G0SxXq1R7eyw7WbX0MIQvsMB1Kwbwx1w6QtfIZ6XY/RsQn2FQ35eMIHJP
PhAD8Av6EOGIVTnWgz37/CGPd9/EDSRHZ8qDdptsIzR4HNAVuQDfWmyjTMl8XSQO
NEEyHqojkIYagbT8TWTJGXAYczUuzVaJgQb+ek3sDp9rKu1lE0946M3TFSzVcSvw
E7xDI8YAvfgAXX/FDNY8WzBqoeT+TQGBxl8mYB80UCK7JEVUUUToXa+h8jKrIXTv
Be72E+32oanwyvU8c3UW201X2t41/8AKY2jpLIUTWmh0jC2mKBB9SQNSzCVm98eR
xZ7++mECgYEA2DyQl9nE2+gfkTKM9cEgMptFLUGaAowVWaDAGSjrkYPZMsqru+i6
kxxGJgY7ZT+hMM4QLVCVS9KKKUk3EOkoIUDsq/jest4uUQKdX2PG/9kPLFjywAo+
6O2eWODRpFnU+Je/rg88cyBlR6+VqNTJ8SQ4RMWhfpNC/JNmiUmh5bECgYEA0Lhi
q6e9AVZ0v8xxjlgqJcsHc3LjlivhyyFQU4qwJ/bcmEZjtF+ep4LAXQD/4KpSGBQx
4M0rWu4mFhPBvZ2Ey6ovWhTCJfkWfebLCm7PYlNcbfzvlAWEFtm6h2cR44pjgsi4
AD1HISV/dOETuEcqcDllaHcCjNXFdgVumxjyyvUCgYBqtTCRjwijkKALUgvXts9B
yffQRoBO43wht780a0ocjBkiBHvNBiMUN66yUv76jvTnlbjL8+lI+oPtrdC7yqNg
DZ79mpmjYRswJP8uNJneZeoj810Pwb6bya8Lox4xYZdEefZAWgp1sbXpM0/CegeR
tVMDNRfl05wJ8l92PlzjcQKBgGFEHA9civLtpFihYKXyJioYlG9TsgWQi5fK/ZEB
B5iILUL1Qo+TI+9yOkzdI2FCXiGEf74APt0QMEWHjXjcyD7VH13+YH+rtbSUcjh5
bUGoEWHcRpWXgHfZnVhuSuLb4gXXng/WfqhOvjfsj/EHkRpdVQm6tECHeo7Gd0Xl
+XdlAoGBAMMcH8jhpLWZDRB393wanZ8cSaaDzWHxYZI2XBv7Mw9j4Yl1hrXO7jCB
t8FwR/C4XYZrASzJSgDj55xF+u6b3wPLxsCcKeaX6dTL5pJogTyfDhD9jQ5EZbkn
zpchLz/7HAcKGNG5lo7bOufpwRu9qFJ+Y7z+D1khStdeWLK4VtCm
-----END RSA PRIVATE KEY-----
`

// selfTestMessage is hashed into the digest the self-test signs.
const selfTestMessage = "osslrsa self-test: RS256 through OpenSSL must equal crypto/rsa"

// selfTest signs a fixed digest with a fixed key through l and through reference
// (crypto/rsa in production). PKCS#1 v1.5 is deterministic, so anything but identical
// bytes means this libcrypto cannot be trusted to sign for us.
func selfTest(l *lib, reference func(*rsa.PrivateKey, []byte) ([]byte, error)) error {
	block, _ := pem.Decode([]byte(selfTestKey))
	if block == nil {
		return errors.New("osslrsa: self-test key is not PEM")
	}
	priv, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return fmt.Errorf("osslrsa: self-test key: %w", err)
	}
	digest := sha256.Sum256([]byte(selfTestMessage))
	want, err := reference(priv, digest[:])
	if err != nil {
		return fmt.Errorf("osslrsa: self-test reference signature: %w", err)
	}
	pkey, err := l.loadKey(block.Bytes, priv.Size())
	if err != nil {
		return fmt.Errorf("osslrsa: self-test: %w", err)
	}
	defer l.freeKey(pkey)
	got := make([]byte, priv.Size())
	n, err := l.sign(pkey, digest[:], got)
	if err != nil {
		return fmt.Errorf("osslrsa: self-test: %w", err)
	}
	return sameSignature(got[:n], want)
}

// sameSignature reports whether OpenSSL's signature equals the reference. Signatures are
// public, so a plain comparison is fine.
func sameSignature(openssl, reference []byte) error {
	if !bytes.Equal(openssl, reference) {
		return errors.New("osslrsa: self-test failed: OpenSSL's RS256 signature differs from crypto/rsa's")
	}
	return nil
}
