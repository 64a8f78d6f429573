package secret

import (
	"errors"
	"strings"
	"testing"
)

// cheap returns a fast Hasher for tests; production code never constructs one like this.
func cheap() Hasher { return Hasher{Params: Params{Memory: 64, Iterations: 1, Parallelism: 1}} }

func TestHashPasswordDefaultsRoundTrip(t *testing.T) {
	phc, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("unexpected PHC prefix: %s", phc)
	}
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || len(parts[4]) != 22 || len(parts[5]) != 43 {
		t.Fatalf("want 16-byte salt and 32-byte key, got %q", parts)
	}
	ok, err := VerifyPassword(phc, "correct horse battery staple")
	if err != nil || !ok {
		t.Fatalf("VerifyPassword = %v, %v; want true, nil", ok, err)
	}
	ok, err = VerifyPassword(phc, "correct horse battery stapl")
	if err != nil || ok {
		t.Fatalf("wrong password: VerifyPassword = %v, %v; want false, nil", ok, err)
	}
	if NeedsRehash(phc) {
		t.Error("fresh default hash reported as needing rehash")
	}
}

func TestHashSaltsDiffer(t *testing.T) {
	a, err := cheap().Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	b, err := cheap().Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two hashes of the same password are identical: salt not random")
	}
}

func TestVerifyWrongPassword(t *testing.T) {
	phc, err := cheap().Hash("secret")
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"", "Secret", "secret ", "secre", "secret\x00"} {
		ok, err := cheap().Verify(phc, pw)
		if err != nil || ok {
			t.Errorf("Verify(%q) = %v, %v; want false, nil", pw, ok, err)
		}
	}
	// Verification uses the parameters in the string, not the Hasher's.
	ok, err := Hasher{}.Verify(phc, "secret")
	if err != nil || !ok {
		t.Errorf("default Hasher could not verify a cheap hash: %v, %v", ok, err)
	}
}

func TestVerifyTamperedPHC(t *testing.T) {
	phc, err := cheap().Hash("secret")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndexByte(phc, '$')
	salt := strings.LastIndexByte(phc[:i], '$')
	flip := func(s string, at int) string {
		b := []byte(s)
		if b[at] == 'A' {
			b[at] = 'B'
		} else {
			b[at] = 'A'
		}
		return string(b)
	}
	cases := map[string]string{
		"hash byte": flip(phc, i+1),
		"salt byte": flip(phc, salt+1),
		"memory":    strings.Replace(phc, "m=64,", "m=72,", 1),
		"time":      strings.Replace(phc, "t=1,", "t=2,", 1),
	}
	for name, tampered := range cases {
		if tampered == phc {
			t.Fatalf("%s: tampering did not change the string", name)
		}
		ok, err := cheap().Verify(tampered, "secret")
		if ok {
			t.Errorf("%s: tampered hash verified (err=%v)", name, err)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	const salt = "c2FsdHNhbHRzYWx0c2FsdA"                     // 16 bytes
	const key = "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U" // 32 bytes
	valid := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key
	if _, err := parsePHC(valid); err != nil {
		t.Fatalf("baseline must parse: %v", err)
	}
	cases := map[string]string{
		"empty":               "",
		"dollar only":         "$",
		"argon2i":             "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"argon2d":             "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"bcrypt":              "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"old version":         "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"no version":          "$argon2id$m=64,t=1,p=1$" + salt + "$" + key,
		"missing hash":        "$argon2id$v=19$m=64,t=1,p=1$" + salt,
		"empty hash":          "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$",
		"empty salt":          "$argon2id$v=19$m=64,t=1,p=1$$" + key,
		"extra field":         valid + "$",
		"params reordered":    "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key,
		"param missing":       "$argon2id$v=19$m=64,t=1$" + salt + "$" + key,
		"extra param":         "$argon2id$v=19$m=64,t=1,p=1,k=1$" + salt + "$" + key,
		"leading zero":        "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key,
		"plus sign":           "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key,
		"negative":            "$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key,
		"space":               "$argon2id$v=19$m= 64,t=1,p=1$" + salt + "$" + key,
		"zero time":           "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"zero parallelism":    "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,
		"memory below 8p":     "$argon2id$v=19$m=8,t=1,p=2$" + salt + "$" + key,
		"memory huge":         "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key,
		"memory overflow":     "$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + key,
		"memory above cap":    "$argon2id$v=19$m=262145,t=1,p=1$" + salt + "$" + key,
		"time above cap":      "$argon2id$v=19$m=64,t=11,p=1$" + salt + "$" + key,
		"parallelism cap":     "$argon2id$v=19$m=1024,t=1,p=17$" + salt + "$" + key,
		"parallelism 256":     "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key,
		"padded salt":         "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key,
		"url alphabet":        "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2Fsd-_$" + key,
		"newline in salt":     "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRz\nYWx0c2FsdA$" + key,
		"non-canonical bits":  "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdB$" + key,
		"short salt":          "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key,
		"short hash":          "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$a2V5a2V5",
		"long hash":           "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 87),
		"too long":            valid + strings.Repeat("A", 300),
		"upper case alg":      "$ARGON2ID$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"leading space":       " " + valid,
		"trailing newline":    valid + "\n",
		"invalid base64 char": "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:len(key)-1] + "*",
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			ok, err := cheap().Verify(s, "pw")
			if ok || !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("Verify(%q) = %v, %v; want false, ErrMalformedHash", s, ok, err)
			}
			if !cheap().NeedsRehash(s) {
				t.Error("malformed hash must need a rehash")
			}
		})
	}
}

func TestParsePHCCanonical(t *testing.T) {
	phc, err := cheap().Hash("x")
	if err != nil {
		t.Fatal(err)
	}
	ph, err := parsePHC(phc)
	if err != nil {
		t.Fatal(err)
	}
	if got := encodePHC(ph); got != phc {
		t.Fatalf("re-encoding changed the string:\n%s\n%s", phc, got)
	}
}

func TestNeedsRehash(t *testing.T) {
	const salt = "c2FsdHNhbHRzYWx0c2FsdA"
	const key = "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	cases := []struct {
		phc  string
		want bool
	}{
		{"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key, false},
		{"$argon2id$v=19$m=65536,t=3,p=4$" + salt + "$" + key, true}, // dearer: replaced too
		{"$argon2id$v=19$m=19456,t=3,p=1$" + salt + "$" + key, true},
		{"$argon2id$v=19$m=19456,t=2,p=2$" + salt + "$" + key, true},
		{"$argon2id$v=19$m=19455,t=2,p=1$" + salt + "$" + key, true},
		{"$argon2id$v=19$m=19456,t=1,p=1$" + salt + "$" + key, true},
		{"$argon2id$v=19$m=65536,t=1,p=4$" + salt + "$" + key, true},
		{"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$" + key, true},                  // 8-byte salt
		{"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$a2V5a2V5a2V5a2V5a2V5aw", true}, // 16-byte key
		{"garbage", true},
	}
	for _, c := range cases {
		if got := NeedsRehash(c.phc); got != c.want {
			t.Errorf("NeedsRehash(%q) = %v, want %v", c.phc, got, c.want)
		}
	}
	// Relative to an explicit Hasher.
	phc, err := cheap().Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	if cheap().NeedsRehash(phc) {
		t.Error("hash needs rehash under the params that made it")
	}
	if !NeedsRehash(phc) {
		t.Error("cheap hash does not need rehash under the defaults")
	}
}

func TestHasherZeroValueAndValidation(t *testing.T) {
	if got := (Hasher{}).params(); got != DefaultParams() {
		t.Fatalf("zero Hasher params = %+v, want %+v", got, DefaultParams())
	}
	// Partially set params fill the rest from the defaults.
	if got := (Hasher{Params: Params{Memory: 32768}}).params(); got.Iterations != DefaultIterations || got.Parallelism != DefaultParallelism {
		t.Fatalf("partial params not completed: %+v", got)
	}
	for _, p := range []Params{
		{Memory: MaxMemoryKiB + 1, Iterations: 1, Parallelism: 1},
		{Memory: 64, Iterations: MaxIterations + 1, Parallelism: 1},
		{Memory: 1024, Iterations: 1, Parallelism: maxParallelism + 1},
		{Memory: 8, Iterations: 1, Parallelism: 2},
	} {
		if _, err := (Hasher{Params: p}).Hash("pw"); err == nil {
			t.Errorf("Hash with %+v succeeded; want an error", p)
		}
	}
}

func TestDummyVerify(t *testing.T) {
	// It must do the work without panicking, for any input and any hasher.
	DummyVerify("whatever")
	cheap().DummyVerify("")
	Hasher{Params: Params{Memory: MaxMemoryKiB + 1}}.DummyVerify("x") // invalid params fall back to defaults
}

func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5aw")
	f.Add("$argon2i$v=19$m=64,t=1,p=1$c2FsdA$a2V5")
	f.Add("$argon2id$v=19$m=064,t=1,p=1$$")
	f.Add("$argon2id$v=19$m=4294967296,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5aw")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		ph, err := parsePHC(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("error does not wrap ErrMalformedHash: %v", err)
			}
			return
		}
		if ph.params.validate() != nil {
			t.Fatalf("accepted out-of-range params %+v", ph.params)
		}
		if len(ph.salt) < minSaltLen || len(ph.salt) > maxSaltLen || len(ph.key) < minKeyLen || len(ph.key) > maxKeyLen {
			t.Fatalf("accepted salt %d / key %d bytes", len(ph.salt), len(ph.key))
		}
		if got := encodePHC(ph); got != s {
			t.Fatalf("accepted a non-canonical string:\n in: %q\nout: %q", s, got)
		}
	})
}

func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPassword(b *testing.B) {
	phc, err := HashPassword("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := VerifyPassword(phc, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDummyVerify(b *testing.B) {
	for b.Loop() {
		DummyVerify("correct horse battery staple")
	}
}

// CheckPolicy, the one rule for a configured cost: OWASP's sets and anything costlier pass;
// more lanes, cheaper sets and values the parser would refuse to read back do not.
func TestCheckPolicy(t *testing.T) {
	for _, p := range owaspParams() {
		if err := p.CheckPolicy(); err != nil {
			t.Errorf("OWASP set %+v: %v", p, err)
		}
	}
	if err := DefaultParams().CheckPolicy(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for _, p := range []Params{
		{Memory: 19456, Iterations: 2, Parallelism: 2},
		{Memory: 19456, Iterations: 1, Parallelism: 1},
		{Memory: 8192, Iterations: 4, Parallelism: 1},
		{Memory: MaxMemoryKiB + 1, Iterations: 2, Parallelism: 1},
		{Memory: 19456, Iterations: MaxIterations + 1, Parallelism: 1},
	} {
		if err := p.CheckPolicy(); !errors.Is(err, ErrParamsOutsidePolicy) {
			t.Errorf("%+v: got %v, want ErrParamsOutsidePolicy", p, err)
		}
	}
}
