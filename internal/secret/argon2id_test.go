package secret

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/crypto/argon2"
)

// eachImpl runs f with the assembly block function (where there is one) and with the generic
// Go one.
func eachImpl(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	saved := useSSE4
	t.Cleanup(func() { useSSE4 = saved })
	if saved {
		t.Run("sse4", f)
	}
	useSSE4 = false
	t.Run("generic", f)
	useSSE4 = saved
}

// RFC 9106 section 5.3: Argon2id with a secret and associated data.
func TestArgon2idRFC9106Vector(t *testing.T) {
	eachImpl(t, func(t *testing.T) {
		password := bytes.Repeat([]byte{0x01}, 32)
		salt := bytes.Repeat([]byte{0x02}, 16)
		key := bytes.Repeat([]byte{0x03}, 8)
		ad := bytes.Repeat([]byte{0x04}, 12)
		want := "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
		// Twice: the second run gets the first run's dirty buffer from the pool.
		for i := range 2 {
			if got := hex.EncodeToString(deriveKey(password, salt, key, ad, 3, 32, 4, 32)); got != want {
				t.Fatalf("run %d: got %s, want %s", i, got, want)
			}
		}
	})
}

// Vectors made with the reference implementation's CLI (the ones x/crypto tests with).
func TestArgon2idReferenceVectors(t *testing.T) {
	vectors := []struct {
		time, memory uint32
		threads      uint8
		hash         string
	}{
		{1, 64, 1, "655ad15eac652dc59f7170a7332bf49b8469be1fdb9c28bb"},
		{2, 64, 1, "068d62b26455936aa6ebe60060b0a65870dbfa3ddf8d41f7"},
		{2, 64, 2, "350ac37222f436ccb5c0972f1ebd3bf6b958bf2071841362"},
		{3, 256, 2, "4668d30ac4187e6878eedeacf0fd83c5a0a30db2cc16ef0b"},
		{4, 4096, 4, "145db9733a9f4ee43edf33c509be96b934d505a4efb33c5a"},
		{4, 1024, 8, "8dafa8e004f8ea96bf7c0f93eecf67a6047476143d15577f"},
		{2, 64, 3, "4a15b31aec7c2590b87d1f520be7d96f56658172deaa3079"},
		{3, 1024, 6, "1640b932f4b60e272f5d2207b9a9c626ffa1bd88d2349016"},
	}
	eachImpl(t, func(t *testing.T) {
		// Largest memory first, so that the smaller ones reuse its dirty buffer.
		for _, pass := range []string{"first", "reused"} {
			for i := len(vectors) - 1; i >= 0; i-- {
				v := vectors[i]
				got := hex.EncodeToString(idKey([]byte("password"), []byte("somesalt"), v.time, v.memory, v.threads, 24))
				if got != v.hash {
					t.Errorf("%s pass, vector %d (t=%d m=%d p=%d): got %s, want %s", pass, i, v.time, v.memory, v.threads, got, v.hash)
				}
			}
		}
	})
}

// Same output as x/crypto/argon2 across parameters (memory not a multiple of 4p included),
// in an order that makes every call reuse a buffer another call dirtied.
func TestArgon2idMatchesXCrypto(t *testing.T) {
	type params struct {
		time, memory uint32
		threads      uint8
		keyLen       uint32
	}
	var cases []params
	for _, m := range []uint32{8, 9, 37, 256, 1000, 4099} {
		for _, tt := range []uint32{1, 2, 3} {
			for _, p := range []uint8{1, 2, 3, 4} {
				if m >= 8*uint32(p) {
					cases = append(cases, params{tt, m, p, 16 + uint32(len(cases)%3)*24})
				}
			}
		}
	}
	cases = append(cases, params{DefaultIterations, DefaultMemory, DefaultParallelism, 32})
	eachImpl(t, func(t *testing.T) {
		for i, c := range cases {
			pw := []byte(fmt.Sprintf("pässword %d", i))
			salt := []byte(fmt.Sprintf("salt-%08d", i))
			want := argon2.IDKey(pw, salt, c.time, c.memory, c.threads, c.keyLen)
			got := idKey(pw, salt, c.time, c.memory, c.threads, c.keyLen)
			if !bytes.Equal(got, want) {
				t.Errorf("%+v: got %x, want %x", c, got, want)
			}
		}
	})
}

// Concurrent hashes each get their own buffer (run with -race).
func TestArgon2idConcurrent(t *testing.T) {
	want := argon2.IDKey([]byte("pw"), []byte("saltsalt"), 2, 512, 1, 32)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Go(func() {
			for range 8 {
				if got := idKey([]byte("pw"), []byte("saltsalt"), 2, 512, 1, 32); !bytes.Equal(got, want) {
					errs <- fmt.Sprintf("goroutine %d: got %x", g, got)
					return
				}
				// Interleave another size so buffers change hands between sizes.
				idKey([]byte("x"), []byte("saltsalt"), 1, 300+uint32(g), 2, 16)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// After warm-up, default-cost hashes reuse one buffer instead of allocating 19 MiB each.
func TestArgon2idReusesMemory(t *testing.T) {
	pw, salt := []byte("correct horse"), []byte("0123456789abcdef")
	idKey(pw, salt, DefaultIterations, DefaultMemory, DefaultParallelism, 32)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 4
	for range n {
		idKey(pw, salt, DefaultIterations, DefaultMemory, DefaultParallelism, 32)
	}
	runtime.ReadMemStats(&after)
	// A garbage collection between calls may empty the pool once or twice; x/crypto
	// allocates n buffers.
	buf := uint64(DefaultMemory) * 1024
	if d := after.TotalAlloc - before.TotalAlloc; d > 2*buf {
		t.Errorf("%d hashes allocated %d bytes; want at most 2 buffers (%d)", n, d, 2*buf)
	}
}

// BenchmarkArgon2idDefault compares one default-cost hash (19 MiB, t=2, p=1) here and in
// x/crypto, single-threaded and with GOMAXPROCS goroutines.
func BenchmarkArgon2idDefault(b *testing.B) {
	pw, salt := []byte("correct horse"), []byte("0123456789abcdef")
	impls := []struct {
		name string
		f    func() []byte
	}{
		{"pooled", func() []byte { return idKey(pw, salt, DefaultIterations, DefaultMemory, DefaultParallelism, 32) }},
		{"xcrypto", func() []byte {
			return argon2.IDKey(pw, salt, DefaultIterations, DefaultMemory, DefaultParallelism, 32)
		}},
	}
	for _, im := range impls {
		b.Run(im.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				im.f()
			}
		})
		b.Run(im.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					im.f()
				}
			})
		})
	}
}

// BenchmarkArgon2idBetweenOtherWork: in a server a hash does not follow a hash; requests run
// between them (HTTP, SQL, templates). "hot" hashes back to back, as the ceiling is usually
// measured; "after-NMiB" walks N MiB of other memory (untimed) before each hash, as other
// work between two sign-ins does, and shows what a hash costs when its 19 MiB are no longer
// in the caches (docs/sizing-journal.md, "Sign-in against the ceiling").
func BenchmarkArgon2idBetweenOtherWork(b *testing.B) {
	pw, salt := []byte("correct horse"), []byte("0123456789abcdef")
	for _, mib := range []int{0, 2, 8, 32} {
		name := "hot"
		if mib > 0 {
			name = fmt.Sprintf("after-%dMiB", mib)
		}
		other := make([]byte, mib<<20)
		b.Run(name, func(b *testing.B) {
			var sink byte
			for b.Loop() {
				b.StopTimer()
				for i := 0; i < len(other); i += 64 {
					other[i]++
					sink += other[i]
				}
				b.StartTimer()
				idKey(pw, salt, DefaultIterations, DefaultMemory, DefaultParallelism, 32)
			}
			_ = sink
		})
	}
}

// BenchmarkArgon2idCosts: one hash at each cost an operator may configure (OWASP's five sets,
// which CheckPolicy accepts as the floor, and RFC 9106's second choice with one lane), for
// the trade-off table in docs/sizing-journal.md. A core's sign-ins per second are at most 1 / this.
func BenchmarkArgon2idCosts(b *testing.B) {
	pw, salt := []byte("correct horse"), []byte("0123456789abcdef")
	owasp := owaspParams()
	sets := append(owasp[:], Params{Memory: 65536, Iterations: 3, Parallelism: 1})
	for _, p := range sets {
		if err := p.CheckPolicy(); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("m=%d,t=%d", p.Memory, p.Iterations), func(b *testing.B) {
			for b.Loop() {
				idKey(pw, salt, p.Iterations, p.Memory, p.Parallelism, 32)
			}
		})
	}
}
