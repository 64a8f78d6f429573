package op

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// The one-pass claims encoders give the JSON object the library's MarshalJSON gives: the
// same members with the same values, with and without extra claims, and where an extra
// claim collides with a registered one.
func TestClaimsJSONSameAsLibrary(t *testing.T) {
	exp := time.Unix(1767225600, 0)
	extras := []map[string]any{
		nil,
		{},
		{"gid": "g1", "entitlements": []string{"pro", "<b>&"}, "licences": map[string]any{"z": 1, "a": []any{true, nil, 2.5}}},
		{"sub": "shadowed", "extra": "x"},        // registered sub wins
		{"email": "from-extra", "k\u2028": 1e21}, // email omitted from the registered claims: the extra one stays
		{"nbf": 1, "at_hash": "no"},
		{"scope": "openid email", "gid": "g1"}, // as GetPrivateClaimsFromRequest gives them
	}
	for i, extra := range extras {
		for _, scopes := range [][]string{nil, {"openid", "offline_access"}} {
			at := oidc.NewAccessTokenClaims("https://issuer.example", "user-1", []string{"c1", "https://api.example"}, exp, "jti-1", "c1", time.Second)
			at.Scopes = scopes // empty: omitted, so an extra scope claim is written
			at.Claims = extra
			same(t, i, "access", at, func() ([]byte, error) { return marshalAccessClaims(at) })
			if b, _ := marshalAccessClaims(at); i == len(extras)-1 && scopes == nil && !strings.HasPrefix(string(b), `{"iss"`) {
				// The library's path writes the members sorted (aud first); the one pass
				// writes the registered ones first, in the struct's order (iss first).
				t.Errorf("a refresh's access claims took the library's path: %s", b)
			}
		}

		idt := oidc.NewIDTokenClaims("https://issuer.example", "user-1", []string{"c1"}, exp, exp.Add(-time.Hour), "nonce \"1\"", "urn:acr", []string{"pwd", "otp"}, "c1", 0)
		idt.AccessTokenHash = "hash"
		if i%2 == 0 {
			idt.SetUserInfo(&oidc.UserInfo{Subject: "user-1",
				UserInfoProfile: oidc.UserInfoProfile{Name: "Zoë <Q>", UpdatedAt: oidc.FromTime(exp)},
				UserInfoEmail:   oidc.UserInfoEmail{Email: "z@example.com", EmailVerified: true},
				Address:         &oidc.UserInfoAddress{Country: "DE", Region: "BY"},
				Claims:          map[string]any{"zoneinfo_extra": "Europe/Berlin"}})
		}
		for k, v := range extra {
			if idt.Claims == nil {
				idt.Claims = map[string]any{}
			}
			idt.Claims[k] = v
		}
		same(t, i, "id", idt, func() ([]byte, error) { return marshalIDClaims(idt) })
	}
}

func same(t *testing.T, i int, kind string, claims any, ours func() ([]byte, error)) {
	t.Helper()
	want, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ours()
	if err != nil {
		t.Fatal(err)
	}
	var w, g map[string]any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("case %d %s: %s is not JSON: %v", i, kind, got, err)
	}
	if !reflect.DeepEqual(w, g) {
		t.Errorf("case %d %s:\n got %s\nwant %s", i, kind, got, want)
	}
}

// BenchmarkAccessClaimsJSON: an access token's claims with the private claims a refresh
// signs, through the library's MarshalJSON and in one pass.
func BenchmarkAccessClaimsJSON(b *testing.B) {
	at := oidc.NewAccessTokenClaims("https://issuer.example", "user-1", []string{"c1"}, time.Now().Add(time.Hour), "jti-1", "c1", 0)
	at.Scopes = []string{"openid", "offline_access", "email"}
	at.Claims = map[string]any{"gid": "grant-1", "entitlements": []string{"pro"}}
	b.Run("library", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(at); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one-pass", func(b *testing.B) {
		for b.Loop() {
			if _, err := marshalAccessClaims(at); err != nil {
				b.Fatal(err)
			}
		}
	})
}
