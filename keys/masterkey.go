package keys

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/myaccount/myaccount/storage"
)

// MasterKeySize is the length of the master key: an AES-256 key.
const MasterKeySize = 32

// MasterKeyFile is the file name LoadOrCreateMasterKey uses inside the data directory.
const MasterKeyFile = "master.key"

// ErrInvalidMasterKey reports a master key that is not 32 bytes of standard base64.
var ErrInvalidMasterKey = errors.New("keys: invalid master key")

// ErrMasterKeyMissing reports that no master key is configured or found although the
// database already holds data sealed with one: a new key could open none of it.
var ErrMasterKeyMissing = errors.New("keys: master key missing")

// ResolveMasterKey returns the master key to use: configured when not nil (from the
// configuration or the environment), else <dataDir>/master.key. The file is generated (see
// LoadOrCreateMasterKey) only for a database that holds nothing sealed yet (no signing
// keys): next to an existing database a missing key is an error naming the path where it
// is expected, and nothing is written, because a fresh key would only leave a useless file
// behind and the start would fail anyway.
func ResolveMasterKey(ctx context.Context, configured []byte, dataDir string, store storage.KeyStore) (key []byte, created bool, err error) {
	if configured != nil {
		return configured, false, nil
	}
	path := filepath.Join(dataDir, MasterKeyFile)
	key, err = readMasterKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	inUse, err := MasterKeyInUse(ctx, store)
	if err != nil {
		return nil, false, err
	}
	if inUse {
		return nil, false, fmt.Errorf("%w: %s does not exist, but the database holds signing keys sealed with a master key: "+
			"restore that file from a backup, or set keys.master_key_file or MYACCOUNT_MASTER_KEY(_FILE) to the key", ErrMasterKeyMissing, path)
	}
	return LoadOrCreateMasterKey(dataDir)
}

// MasterKeyInUse reports whether store holds data sealed with a master key (signing keys,
// created at the first start), that is whether a missing master key must be restored
// rather than generated.
func MasterKeyInUse(ctx context.Context, store storage.KeyStore) (bool, error) {
	ks, err := store.ListSigningKeys(ctx)
	if err != nil {
		return false, fmt.Errorf("keys: look for sealed signing keys: %w", err)
	}
	return len(ks) > 0, nil
}

// ParseMasterKey decodes a master key given as standard base64 (as produced by NewMasterKey),
// for example from an environment variable or a secrets manager. Surrounding white space is
// ignored so a trailing newline in a file does not matter. The error never contains the key.
func ParseMasterKey(b64 string) ([]byte, error) {
	key, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return nil, fmt.Errorf("%w: not standard base64 (generate one with NewMasterKey)", ErrInvalidMasterKey)
	}
	if len(key) != MasterKeySize {
		return nil, fmt.Errorf("%w: decodes to %d bytes, need exactly %d", ErrInvalidMasterKey, len(key), MasterKeySize)
	}
	return key, nil
}

// NewMasterKey returns a fresh random master key as standard base64, for first-time setup
// and the CLI.
func NewMasterKey() string {
	key := make([]byte, MasterKeySize)
	_, _ = rand.Read(key) // never fails since Go 1.24 (it crashes the program instead)
	return base64.StdEncoding.EncodeToString(key)
}

// LoadOrCreateMasterKey reads <dataDir>/master.key, creating it (mode 0600, and the
// directory with mode 0700 if absent) with a new random key when it does not exist, so a
// single-node installation works without configuration. created reports whether the key is
// new, so the caller can tell the operator to back it up: without it, sealed signing keys
// cannot be opened. Creation is atomic (a complete temporary file is hard-linked into place),
// so two processes starting together agree on one key and never see a partial file.
//
// It knows nothing of the database: servers use ResolveMasterKey, which refuses to generate a
// key next to a database already sealed with another.
func LoadOrCreateMasterKey(dataDir string) (key []byte, created bool, err error) {
	path := filepath.Join(dataDir, MasterKeyFile)
	key, err = readMasterKey(path)
	if err == nil {
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}

	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("keys: create data directory: %w", err)
	}
	tmp, err := os.CreateTemp(dataDir, ".master.key.*") // mode 0600
	if err != nil {
		return nil, false, fmt.Errorf("keys: create master key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(NewMasterKey() + "\n")
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, false, fmt.Errorf("keys: write master key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) { // another process won the race: use its key
			key, err = readMasterKey(path)
			return key, false, err
		}
		return nil, false, fmt.Errorf("keys: install master key: %w", err)
	}
	syncDir(dataDir)
	key, err = readMasterKey(path)
	if err != nil {
		return nil, false, err
	}
	return key, true, nil
}

// readMasterKey reads and parses a master key file; a missing file is reported with an error
// matching fs.ErrNotExist.
func readMasterKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: read master key: %w", err)
	}
	key, err := ParseMasterKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("keys: %s: %w", path, err)
	}
	return key, nil
}

// syncDir makes a new directory entry durable. Failure is ignored: some file systems do not
// support syncing directories, and the key file itself has already been synced.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
