package keys

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MasterKeySize is the length of the master key: an AES-256 key.
const MasterKeySize = 32

// MasterKeyFile is the file name LoadOrCreateMasterKey uses inside the data directory.
const MasterKeyFile = "master.key"

// ErrInvalidMasterKey reports a master key that is not 32 bytes of standard base64.
var ErrInvalidMasterKey = errors.New("keys: invalid master key")

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
