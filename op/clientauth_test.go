package op

import (
	"errors"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/myaccount/myaccount/storage"
)

func TestWithKID(t *testing.T) {
	keys := []jose.JSONWebKey{{KeyID: "a"}, {KeyID: "b"}, {KeyID: ""}}
	tests := []struct {
		kid  string
		want []string
	}{
		{"", []string{"a", "b", ""}},
		{"a", []string{"a"}},
		{"zzz", []string{""}}, // an unknown kid may be a key registered without one
	}
	for _, tt := range tests {
		var got []string
		for _, k := range withKID(keys, tt.kid) {
			got = append(got, k.KeyID)
		}
		if len(got) != len(tt.want) {
			t.Errorf("withKID(%q) = %q, want %q", tt.kid, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("withKID(%q) = %q, want %q", tt.kid, got, tt.want)
			}
		}
	}
	if got := withKID([]jose.JSONWebKey{{KeyID: "a"}}, "b"); len(got) != 0 {
		t.Errorf("unknown kid with only named keys: %v, want none", got)
	}
}

// TestClientKeysRefusals: a key set the server may not fetch, or none at all, is the
// client's problem (errClientKeys), never a call to a plain-http or internal address.
func TestClientKeysRefusals(t *testing.T) {
	k := newClientKeys(time.Now)
	for _, c := range []*storage.Client{
		{ID: "a", JWKSURI: "http://keys.example/jwks.json"},
		{ID: "b", JWKSURI: "https://10.1.2.3/jwks.json"},
		{ID: "c", JWKSURI: "https://169.254.169.254/latest/meta-data"},
		{ID: "d"},
		{ID: "e", JWKS: "not json"},
	} {
		if _, err := k.keys(t.Context(), c, "k1"); !errors.Is(err, errClientKeys) {
			t.Errorf("client %s: %v, want errClientKeys", c.ID, err)
		}
	}
}

func TestAssertionAlgsAreAsymmetric(t *testing.T) {
	for _, a := range assertionAlgs {
		switch a {
		case jose.HS256, jose.HS384, jose.HS512, "none":
			t.Errorf("%s accepted for client assertions", a)
		}
	}
}
