package keys

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/storage"
)

func TestResolveMasterKey(t *testing.T) {
	configured := bytes.Repeat([]byte{7}, MasterKeySize)

	t.Run("configured key wins", func(t *testing.T) {
		dir := t.TempDir()
		st := newFakeStore()
		key, created, err := ResolveMasterKey(t.Context(), configured, dir, st)
		if err != nil || created || !bytes.Equal(key, configured) {
			t.Fatalf("= %v, %v, %v", key, created, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("a configured key wrote %d files", len(entries))
		}
	})

	t.Run("new database: generated", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		key, created, err := ResolveMasterKey(t.Context(), nil, dir, newFakeStore())
		if err != nil || !created || len(key) != MasterKeySize {
			t.Fatalf("= %d bytes, created=%v, %v", len(key), created, err)
		}
		again, created, err := ResolveMasterKey(t.Context(), nil, dir, newFakeStore())
		if err != nil || created || !bytes.Equal(again, key) {
			t.Fatalf("second start: created=%v, same=%v, %v", created, bytes.Equal(again, key), err)
		}
	})

	t.Run("existing database, key missing: error, nothing written", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		st := newFakeStore()
		if err := st.CreateSigningKey(t.Context(), &storage.SigningKey{ID: "k1", Alg: "RS256"}); err != nil {
			t.Fatal(err)
		}
		_, _, err := ResolveMasterKey(t.Context(), nil, dir, st)
		if !errors.Is(err, ErrMasterKeyMissing) {
			t.Fatalf("err = %v, want ErrMasterKeyMissing", err)
		}
		if path := filepath.Join(dir, MasterKeyFile); !strings.Contains(err.Error(), path) {
			t.Errorf("error %q does not name %s", err, path)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("data directory or key was created: %v", err)
		}
	})

	t.Run("existing database, key present: read", func(t *testing.T) {
		dir := t.TempDir()
		want, _, err := LoadOrCreateMasterKey(dir)
		if err != nil {
			t.Fatal(err)
		}
		st := newFakeStore()
		if err := st.CreateSigningKey(t.Context(), &storage.SigningKey{ID: "k1", Alg: "RS256"}); err != nil {
			t.Fatal(err)
		}
		key, created, err := ResolveMasterKey(t.Context(), nil, dir, st)
		if err != nil || created || !bytes.Equal(key, want) {
			t.Fatalf("= created=%v, same=%v, %v", created, bytes.Equal(key, want), err)
		}
	})
}
