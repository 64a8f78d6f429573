package keys

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func testMasterKey(t testing.TB) []byte {
	t.Helper()
	k, err := ParseMasterKey(NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	s, err := NewSealer(testMasterKey(t))
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("private key bytes")
	sealed, err := s.Seal("kid-1", plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed output contains the plaintext")
	}
	if len(sealed) != 12+len(plain)+16 {
		t.Fatalf("sealed length %d, want nonce+plaintext+tag", len(sealed))
	}
	got, err := s.Open("kid-1", sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	again, _ := s.Seal("kid-1", plain)
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals are identical: nonce reused")
	}

	t.Run("wrong kid", func(t *testing.T) {
		if _, err := s.Open("kid-2", sealed); !errors.Is(err, ErrOpen) {
			t.Fatalf("Open with another kid: %v, want ErrOpen", err)
		}
	})
	t.Run("wrong master key", func(t *testing.T) {
		other, err := NewSealer(testMasterKey(t))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Open("kid-1", sealed); !errors.Is(err, ErrOpen) {
			t.Fatalf("Open with another master key: %v, want ErrOpen", err)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		for i := range sealed {
			b := bytes.Clone(sealed)
			b[i] ^= 0x01
			if _, err := s.Open("kid-1", b); !errors.Is(err, ErrOpen) {
				t.Fatalf("byte %d flipped: %v, want ErrOpen", i, err)
			}
		}
		for _, n := range []int{0, 1, 12, 27, len(sealed) - 1} {
			if _, err := s.Open("kid-1", sealed[:n]); !errors.Is(err, ErrOpen) {
				t.Fatalf("truncated to %d: %v, want ErrOpen", n, err)
			}
		}
	})
	t.Run("empty kid", func(t *testing.T) {
		if _, err := s.Seal("", plain); err == nil {
			t.Fatal("Seal with empty kid succeeded")
		}
	})
}

func TestNewSealerRejectsWrongLength(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33} {
		if _, err := NewSealer(make([]byte, n)); !errors.Is(err, ErrInvalidMasterKey) {
			t.Errorf("NewSealer(%d bytes) = %v, want ErrInvalidMasterKey", n, err)
		}
	}
}

func TestParseMasterKey(t *testing.T) {
	k := NewMasterKey()
	got, err := ParseMasterKey(k + "\n")
	if err != nil || len(got) != 32 {
		t.Fatalf("ParseMasterKey(NewMasterKey()) = %d bytes, %v", len(got), err)
	}
	b := func(n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, n)) }
	bad := map[string]string{
		"empty":       "",
		"16 bytes":    b(16),
		"31 bytes":    b(31),
		"33 bytes":    b(33),
		"64 bytes":    b(64),
		"not base64":  "this is not base64 at all!!!!!!!!!!!!!!!!!!!!",
		"url base64":  base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)),
		"unpadded":    strings.TrimRight(b(32), "="),
		"hex":         strings.Repeat("ab", 32),
		"inner space": b(16) + " " + b(16),
	}
	for name, s := range bad {
		_, err := ParseMasterKey(s)
		if !errors.Is(err, ErrInvalidMasterKey) {
			t.Errorf("%s: ParseMasterKey = %v, want ErrInvalidMasterKey", name, err)
			continue
		}
		if len(s) > 8 && strings.Contains(err.Error(), s) {
			t.Errorf("%s: error message contains the key", name)
		}
	}
}

func TestLoadOrCreateMasterKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	key, created, err := LoadOrCreateMasterKey(dir)
	if err != nil || !created || len(key) != 32 {
		t.Fatalf("first call = %d bytes, created=%v, %v", len(key), created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("master key mode %o, want 600", fi.Mode().Perm())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %o, want 700", di.Mode().Perm())
	}
	again, created, err := LoadOrCreateMasterKey(dir)
	if err != nil || created || !bytes.Equal(again, key) {
		t.Fatalf("second call: created=%v, same=%v, %v", created, bytes.Equal(again, key), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only %s", len(entries), MasterKeyFile)
	}

	// A corrupt file is an error, never silently replaced (that would orphan every key).
	if err := os.WriteFile(filepath.Join(dir, MasterKeyFile), []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateMasterKey(dir); !errors.Is(err, ErrInvalidMasterKey) {
		t.Fatalf("corrupt key file: %v, want ErrInvalidMasterKey", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, MasterKeyFile)); string(b) != "garbage\n" {
		t.Fatal("corrupt key file was overwritten")
	}
}

func TestLoadOrCreateMasterKeyConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 16
	keys := make([][]byte, n)
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], created[i], errs[i] = LoadOrCreateMasterKey(dir) })
	}
	wg.Wait()
	nCreated := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatal("concurrent callers got different master keys")
		}
		if created[i] {
			nCreated++
		}
	}
	if nCreated != 1 {
		t.Fatalf("%d callers report creating the key, want 1", nCreated)
	}
}
