package subkey_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/myaccount/myaccount/internal/subkey"
)

// TestKeysUnchanged pins the derived bytes for a fixed master key: the values were produced
// by the derivations the UI, op and the server made themselves before this package existed
// (hkdf.Key(sha256.New, master, nil, info, 32)), so cookies, captchas and opaque tokens
// issued before stay valid. A failure here means a purpose's info string or KDF changed.
func TestKeysUnchanged(t *testing.T) {
	master := bytes.Repeat([]byte{0x42}, 32)
	d, err := subkey.New(master)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		p    subkey.Purpose
		want string
	}{
		{"csrf", subkey.CSRF, "003873a65bf24885efb8d57a567c3b68db8def5a027f68f5c8baaaf8a60f8865"},
		{"sealed cookies", subkey.SealedCookies, "b7ac10c5af1f11a1a1d182d548e52600373983ccc42239306c94690d47f50460"},
		{"device cookie", subkey.DeviceCookie, "d4fed94d0e139075494343b6400c879d327d83d67fb00afc16ef09f06f320b45"},
		{"opaque access tokens", subkey.OpaqueAccessTokens, "1635215ed698d5aea6488ce4ef7e08b85498d0d1c91ed4d043666af7124843bb"},
		{"captcha", subkey.Captcha, "c997c305c98317abf65980163309dfea25038872192ffc21bb47291466a1dcc5"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := hex.EncodeToString(d.Key(tt.p))
			if got != tt.want {
				t.Errorf("Key(%q) = %s, want %s", tt.p, got, tt.want)
			}
			if other, dup := seen[got]; dup {
				t.Errorf("%s and %s derive the same key", tt.name, other)
			}
			seen[got] = tt.name
		})
	}
}

func TestNewRefusesWrongSize(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := subkey.New(make([]byte, n)); !errors.Is(err, subkey.ErrMasterKey) {
			t.Errorf("New(%d bytes) = %v, want ErrMasterKey", n, err)
		}
	}
}

// TestDeriverKeepsItsCopy: changing the caller's slice afterwards does not change the keys.
func TestDeriverKeepsItsCopy(t *testing.T) {
	master := bytes.Repeat([]byte{1}, 32)
	d, err := subkey.New(master)
	if err != nil {
		t.Fatal(err)
	}
	before := d.Key(subkey.CSRF)
	master[0] = 2
	if !bytes.Equal(before, d.Key(subkey.CSRF)) {
		t.Error("the derived key follows the caller's slice")
	}
}
