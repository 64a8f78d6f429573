// Package secret holds MyAccount's small cryptographic helpers: argon2id password hashing
// in PHC string format, random tokens and identifiers, token hashing and constant-time
// comparison. It depends only on the standard library and golang.org/x/crypto (blake2b, for
// its own argon2id with reused memory: argon2id.go) so that every other package (storage
// backends, the CLI, the HTTP layer) can use it without pulling in anything else.
package secret

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Default argon2id parameters: the OWASP password storage recommendation (19 MiB, two passes,
// one lane). Production code always hashes with at least these; weaker hashes found at
// sign-in are reported by NeedsRehash so they can be upgraded.
const (
	DefaultMemory      uint32 = 19456 // KiB
	DefaultIterations  uint32 = 2
	DefaultParallelism uint8  = 1
)

// Sizes of what HashPassword generates. Verification accepts other sizes within bounds so
// that hashes imported from elsewhere keep working.
const (
	saltLen = 16
	keyLen  = 32
)

// Bounds enforced when parsing a PHC string (and when hashing). A password hash comes from
// the database, which we do not want to be able to make us allocate gigabytes or spin for
// minutes, so everything is capped at values far above what we generate.
const (
	maxParallelism = 16
	minSaltLen     = 8 // RFC 9106 minimum
	maxSaltLen     = 64
	minKeyLen      = 16
	maxKeyLen      = 64
	maxPHCLen      = 256 // longest valid string is about 220 bytes
	maxDecimalLen  = 10  // digits of a uint32
)

// phcPrefix is the only algorithm and version we produce and accept.
const phcPrefix = "$argon2id$v=19$"

// ErrMalformedHash reports a password hash that is not a well-formed argon2id PHC string
// within our bounds. Callers must treat it as "cannot verify", never as a match.
var ErrMalformedHash = errors.New("secret: malformed password hash")

// Params are the argon2id cost parameters.
type Params struct {
	// Memory is the memory cost in KiB.
	Memory uint32
	// Iterations is the number of passes over the memory (argon2's "time").
	Iterations uint32
	// Parallelism is the number of lanes (argon2's "threads").
	Parallelism uint8
}

// DefaultParams returns the production parameters (m=19456, t=2, p=1). It is a function, not
// a variable, so no code can lower the defaults for the whole process.
func DefaultParams() Params {
	return Params{Memory: DefaultMemory, Iterations: DefaultIterations, Parallelism: DefaultParallelism}
}

// WithDefaults fills every zero field from DefaultParams, which is what makes the zero
// Hasher a production hasher.
func (p Params) WithDefaults() Params {
	d := DefaultParams()
	if p.Memory == 0 {
		p.Memory = d.Memory
	}
	if p.Iterations == 0 {
		p.Iterations = d.Iterations
	}
	if p.Parallelism == 0 {
		p.Parallelism = d.Parallelism
	}
	return p
}

// validate checks the bounds the parser also enforces, so we never write a hash we would
// refuse to read back.
func (p Params) validate() error {
	switch {
	case p.Parallelism < 1 || p.Parallelism > maxParallelism:
		return fmt.Errorf("secret: argon2 parallelism %d out of range [1, %d]", p.Parallelism, maxParallelism)
	case p.Iterations < 1 || p.Iterations > MaxIterations:
		return fmt.Errorf("secret: argon2 iterations %d out of range [1, %d]", p.Iterations, MaxIterations)
	case p.Memory < 8*uint32(p.Parallelism) || p.Memory > MaxMemoryKiB:
		return fmt.Errorf("secret: argon2 memory %d KiB out of range [%d, %d]", p.Memory, 8*uint32(p.Parallelism), MaxMemoryKiB)
	}
	return nil
}

// owaspParams are OWASP's argon2id recommendations (Password Storage Cheat Sheet): memory
// and passes traded against each other, one lane each, meant to cost an attacker about the
// same. The default is the second.
func owaspParams() [5]Params {
	return [5]Params{
		{Memory: 47104, Iterations: 1, Parallelism: 1},
		{Memory: 19456, Iterations: 2, Parallelism: 1},
		{Memory: 12288, Iterations: 3, Parallelism: 1},
		{Memory: 9216, Iterations: 4, Parallelism: 1},
		{Memory: 7168, Iterations: 5, Parallelism: 1},
	}
}

// ErrParamsOutsidePolicy reports parameters that CheckPolicy refuses.
var ErrParamsOutsidePolicy = errors.New("secret: argon2id parameters outside policy")

// CheckPolicy reports whether p may be configured for new password hashes: one lane (the
// Limiter counts a hash as one core's work), within the bounds a stored hash must parse back
// within, and at least one of OWASP's recommendations in both memory and passes, so that no
// setting makes new hashes cheaper to attack than the default. The error wraps
// ErrParamsOutsidePolicy.
func (p Params) CheckPolicy() error {
	if p.Parallelism != 1 {
		return fmt.Errorf("%w: parallelism must be 1, got %d", ErrParamsOutsidePolicy, p.Parallelism)
	}
	if p.Memory > MaxMemoryKiB || p.Iterations > MaxIterations {
		return fmt.Errorf("%w: at most %d KiB and %d passes, got %d KiB and %d", ErrParamsOutsidePolicy, MaxMemoryKiB, MaxIterations, p.Memory, p.Iterations)
	}
	for _, o := range owaspParams() {
		if p.Memory >= o.Memory && p.Iterations >= o.Iterations {
			return nil
		}
	}
	return fmt.Errorf("%w: %d KiB with %d passes is cheaper than every OWASP set (47104 KiB t=1, 19456 t=2, 12288 t=3, 9216 t=4, 7168 t=5)",
		ErrParamsOutsidePolicy, p.Memory, p.Iterations)
}

// MaxMemoryKiB and MaxIterations bound the argon2id cost the PHC parser reads back (256 MiB,
// ten passes), and so the cost a configuration may choose.
const (
	MaxMemoryKiB  = 262144
	MaxIterations = 10
)

// Hasher hashes and verifies passwords with fixed argon2id parameters. Its zero value uses
// DefaultParams (zero fields are filled with the defaults); tests construct it explicitly
// with cheaper parameters to stay fast. The server builds one from its configuration
// (security.password_hash_memory_kib and _iterations), which CheckPolicy has accepted; the
// package-level functions use the defaults.
type Hasher struct {
	Params Params
}

// params returns the effective parameters.
func (h Hasher) params() Params { return h.Params.WithDefaults() }

// Hash returns the argon2id PHC string for password with a fresh 16-byte random salt and a
// 32-byte key.
func (h Hasher) Hash(password string) (string, error) {
	p := h.params()
	if err := p.validate(); err != nil {
		return "", err
	}
	salt := randomBytes(saltLen)
	key := idKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, keyLen)
	return encodePHC(phc{params: p, salt: salt, key: key}), nil
}

// Verify reports whether password matches the PHC string, comparing in constant time. It
// accepts any well-formed argon2id v=19 hash within our bounds, whatever its parameters (use
// NeedsRehash to upgrade weak ones); a malformed hash is an error wrapping ErrMalformedHash.
func (h Hasher) Verify(phcString, password string) (bool, error) {
	ph, err := parsePHC(phcString)
	if err != nil {
		return false, err
	}
	got := idKey([]byte(password), ph.salt, ph.params.Iterations, ph.params.Memory, ph.params.Parallelism, uint32(len(ph.key)))
	return subtle.ConstantTimeCompare(got, ph.key) == 1, nil
}

// NeedsRehash reports whether the hash should be replaced by a fresh Hash of the password
// (after a successful Verify): when it is malformed, when its memory, iterations or
// parallelism differ from this Hasher's, or when its salt or key is shorter. A dearer hash
// is replaced too: the operator chose the cost, a check of a dearer hash takes longer than
// an unknown address's (which tells the address has an account), and its memory is not what
// the server's memory limit counts per hashing slot.
func (h Hasher) NeedsRehash(phcString string) bool {
	ph, err := parsePHC(phcString)
	if err != nil {
		return true
	}
	p := h.params()
	return ph.params.Memory != p.Memory ||
		ph.params.Iterations != p.Iterations ||
		ph.params.Parallelism != p.Parallelism ||
		len(ph.salt) < saltLen ||
		len(ph.key) < keyLen
}

// DummyVerify does the work of a Verify against a fixed hash with this Hasher's parameters
// and discards the result. Call it when there is no hash to check (unknown email, account
// without password) so that the response takes as long as a wrong password would, and does
// not reveal which accounts exist.
func (h Hasher) DummyVerify(password string) {
	p := h.params()
	if p.validate() != nil {
		p = DefaultParams()
	}
	dummy := encodePHC(phc{params: p, salt: make([]byte, saltLen), key: make([]byte, keyLen)})
	_, _ = h.Verify(dummy, password)
}

// HashPassword hashes password with the default parameters; see Hasher.Hash.
func HashPassword(password string) (string, error) { return Hasher{}.Hash(password) }

// VerifyPassword checks password against a PHC string; see Hasher.Verify.
func VerifyPassword(phcString, password string) (bool, error) {
	return Hasher{}.Verify(phcString, password)
}

// NeedsRehash reports whether a hash is weaker than the defaults; see Hasher.NeedsRehash.
func NeedsRehash(phcString string) bool { return Hasher{}.NeedsRehash(phcString) }

// DummyVerify burns the time of one default verification; see Hasher.DummyVerify.
func DummyVerify(password string) { Hasher{}.DummyVerify(password) }

// phc is a parsed argon2id PHC string.
type phc struct {
	params Params
	salt   []byte
	key    []byte
}

// encodePHC formats $argon2id$v=19$m=M,t=T,p=P$salt$key.
func encodePHC(ph phc) string {
	var b strings.Builder
	b.Grow(maxPHCLen)
	b.WriteString(phcPrefix)
	b.WriteString("m=")
	b.WriteString(strconv.FormatUint(uint64(ph.params.Memory), 10))
	b.WriteString(",t=")
	b.WriteString(strconv.FormatUint(uint64(ph.params.Iterations), 10))
	b.WriteString(",p=")
	b.WriteString(strconv.FormatUint(uint64(ph.params.Parallelism), 10))
	b.WriteByte('$')
	b.WriteString(base64.RawStdEncoding.EncodeToString(ph.salt))
	b.WriteByte('$')
	b.WriteString(base64.RawStdEncoding.EncodeToString(ph.key))
	return b.String()
}

// malformed wraps ErrMalformedHash with a reason. It never quotes the input: a hash is
// sensitive and errors end up in logs.
func malformed(reason string) error {
	return fmt.Errorf("%w: %s", ErrMalformedHash, reason)
}

// parsePHC parses a PHC string strictly: exactly the layout encodePHC writes (parameters in
// the order m, t, p; canonical decimals; canonical unpadded base64), within the bounds above.
// Being strict means encodePHC(parsePHC(s)) == s for every accepted s, so a hash cannot be
// written in two ways. It never panics and allocates at most a few hundred bytes.
func parsePHC(s string) (phc, error) {
	var ph phc
	if len(s) > maxPHCLen {
		return ph, malformed("too long")
	}
	rest, ok := strings.CutPrefix(s, phcPrefix)
	if !ok {
		return ph, malformed("not an argon2id v=19 PHC string")
	}
	paramStr, rest, ok := strings.Cut(rest, "$")
	if !ok {
		return ph, malformed("missing salt")
	}
	saltStr, keyStr, ok := strings.Cut(rest, "$")
	if !ok {
		return ph, malformed("missing hash")
	}

	mStr, tp, ok1 := strings.Cut(paramStr, ",")
	tStr, pStr, ok2 := strings.Cut(tp, ",")
	if !ok1 || !ok2 {
		return ph, malformed("parameters must be m=,t=,p=")
	}
	m, err := parseParam(mStr, "m=")
	if err != nil {
		return ph, err
	}
	t, err := parseParam(tStr, "t=")
	if err != nil {
		return ph, err
	}
	p, err := parseParam(pStr, "p=")
	if err != nil {
		return ph, err
	}
	if p > maxParallelism {
		return ph, malformed("parallelism out of range")
	}
	ph.params = Params{Memory: m, Iterations: t, Parallelism: uint8(p)}
	if err := ph.params.validate(); err != nil {
		return ph, malformed("parameters out of range")
	}

	if ph.salt, err = decodeB64(saltStr, minSaltLen, maxSaltLen); err != nil {
		return ph, malformed("salt: " + err.Error())
	}
	if ph.key, err = decodeB64(keyStr, minKeyLen, maxKeyLen); err != nil {
		return ph, malformed("hash: " + err.Error())
	}
	return ph, nil
}

// parseParam parses "<name><decimal>" where the decimal is a canonical positive uint32 (no
// sign, no leading zero, no spaces).
func parseParam(s, name string) (uint32, error) {
	digits, ok := strings.CutPrefix(s, name)
	if !ok {
		return 0, malformed("parameters must be m=,t=,p=")
	}
	if len(digits) == 0 || len(digits) > maxDecimalLen || digits[0] == '0' {
		return 0, malformed("parameter " + name + " is not a canonical positive integer")
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, malformed("parameter " + name + " is not a canonical positive integer")
		}
	}
	v, err := strconv.ParseUint(digits, 10, 32)
	if err != nil {
		return 0, malformed("parameter " + name + " out of range")
	}
	return uint32(v), nil
}

// decodeB64 decodes canonical unpadded standard base64 whose decoded length is within
// [minLen, maxLen]. The alphabet is checked by hand because the decoder silently skips
// '\r' and '\n'.
func decodeB64(s string, minLen, maxLen int) ([]byte, error) {
	if len(s) < base64.RawStdEncoding.EncodedLen(minLen) || len(s) > base64.RawStdEncoding.EncodedLen(maxLen) {
		return nil, errors.New("length out of range")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return nil, errors.New("not unpadded standard base64")
		}
	}
	b, err := base64.RawStdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, errors.New("not canonical base64")
	}
	if len(b) < minLen || len(b) > maxLen {
		return nil, errors.New("length out of range")
	}
	return b, nil
}
