package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"
)

// idBytes is the entropy of NewID: 128 bits, enough that ids never collide and cannot be
// guessed.
const idBytes = 16

// randomBytes returns n bytes from crypto/rand. Since Go 1.24 crypto/rand.Read never returns
// an error (the program crashes instead if the OS cannot supply randomness), so there is no
// error to propagate and no way to hand out a predictable value.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// RandomToken returns nbytes of crypto/rand entropy encoded as unpadded base64url, for
// secrets handed to browsers and clients (session cookies, codes, refresh tokens, client
// secrets). Store only HashToken of it. It panics if nbytes < 1: that is a programming error,
// and an empty "secret" must never be returned.
func RandomToken(nbytes int) string {
	if nbytes < 1 {
		panic(fmt.Sprintf("secret: RandomToken(%d): need at least one byte", nbytes))
	}
	return base64.RawURLEncoding.EncodeToString(randomBytes(nbytes))
}

// idEncoding is lower-case base32 without padding: ids are safe in URLs, file names and
// shell arguments, and never start with '-' (an admin's `client show ID` must not read as a
// flag) nor contain ':' (so ids can be joined with it).
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a new random identifier: 16 bytes from crypto/rand, 26 characters of [a-z2-7].
func NewID() string {
	return idEncoding.EncodeToString(randomBytes(idBytes))
}

// DerivedID returns the identifier in NewID's form that seed determines: the same seed, the
// same id (the first 16 bytes of its SHA-256). For ids a retry must find again, such as the
// items one outbox task queues; seed must not be guessable where the id is shown.
func DerivedID(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return idEncoding.EncodeToString(sum[:idBytes])
}

// orderedEncoding is idEncoding's alphabet in ASCII order, so that the text of ids sorts as
// their bytes do.
var orderedEncoding = base32.NewEncoding("234567abcdefghijklmnopqrstuvwxyz").WithPadding(base32.NoPadding)

// NewOrderedID returns an identifier in NewID's form (26 characters of [a-z2-7]) that sorts
// after those made earlier: the milliseconds of t (48 bits), then 80 random bits. Rows with
// such keys are appended to their primary-key index instead of each landing on a random page
// of it, which on a table of millions of rows is a page read and a page written per insert
// that the cache would otherwise miss. It reveals when the row was made, so it is for ids
// that stay inside the server (refresh-token rows), never for ids others see or guess at.
func NewOrderedID(t time.Time) string {
	b := randomBytes(idBytes)
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	return orderedEncoding.EncodeToString(b)
}

// HashToken returns the lower-case hex SHA-256 of s. High-entropy tokens need no salt or
// slow hash: storing only this means a leaked database does not reveal usable tokens.
func HashToken(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Equal compares two secrets in constant time, so an attacker cannot learn a secret byte by
// byte from response times. Only the lengths may leak, which is fine for hashes and tokens
// of fixed size.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
