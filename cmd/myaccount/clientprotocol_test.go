package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// TestClientProtocolFlags registers issue 16's settings with client create, changes them with
// client update, and refuses what would make a client unusable or unsafe.
func TestClientProtocolFlags(t *testing.T) {
	c := newCLI(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	priv, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	dir := t.TempDir()
	pubFile, privFile := filepath.Join(dir, "pub.json"), filepath.Join(dir, "priv.json")
	if err := os.WriteFile(pubFile, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(privFile, priv, 0o600); err != nil {
		t.Fatal(err)
	}

	out := c.mustRun("", "client", "create", "--name", "Bank portal", "--type", "confidential",
		"--redirect-uri", "https://bank.example/cb", "--token-endpoint-auth-method", "private_key_jwt",
		"--jwks-file", pubFile, "--backchannel-logout-uri", "https://bank.example/bcl",
		"--backchannel-logout-session-required", "--require-par", "--dpop-bound-access-tokens",
		"--resource", "https://api.bank.example/", "--json")
	var created struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	if created.ClientSecret != "" {
		t.Errorf("a private_key_jwt client was given a secret: %s", out)
	}
	show := func() clientView {
		t.Helper()
		var v clientView
		if err := json.Unmarshal([]byte(c.mustRun("", "client", "show", created.ClientID, "--json")), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	v := show()
	if v.TokenEndpointAuthMethod != "private_key_jwt" || v.JWKS != string(pub) || v.BackchannelLogoutURI != "https://bank.example/bcl" ||
		!v.BackchannelLogoutSessionRequired || !v.RequirePAR || !v.DPoPBoundAccessTokens ||
		len(v.Resources) != 1 || v.Resources[0] != "https://api.bank.example/" {
		t.Fatalf("show after create = %+v", v)
	}

	// The key set moves to an address; the flags turn off; the resources are replaced.
	c.mustRun("", "client", "update", created.ClientID, "--jwks-uri", "https://bank.example/jwks.json",
		"--require-par=false", "--dpop-bound-access-tokens=false", "--resource", "urn:bank:payments", "--resource", "https://api.bank.example/v2")
	v = show()
	if v.JWKS != "" || v.JWKSURI != "https://bank.example/jwks.json" || v.RequirePAR || v.DPoPBoundAccessTokens ||
		strings.Join(v.Resources, " ") != "urn:bank:payments https://api.bank.example/v2" || v.BackchannelLogoutURI == "" {
		t.Fatalf("show after update = %+v", v)
	}

	bad := []struct {
		args []string
		want string
	}{
		{[]string{"--jwks-file", privFile}, "private"},
		{[]string{"--jwks-uri", "http://bank.example/jwks.json"}, "https"},
		{[]string{"--backchannel-logout-uri", "https://bank.example/bcl#x"}, "fragment"},
		{[]string{"--resource", "relative/path"}, "absolute"},
		{[]string{"--jwks-uri", ""}, "exactly one of jwks and jwks_uri"},
	}
	for _, tt := range bad {
		_, _, err := c.run("", append([]string{"client", "update", created.ClientID}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("update %v: err = %v, want it to mention %q", tt.args, err, tt.want)
		}
	}
	for _, args := range [][]string{
		{"--type", "public", "--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", pubFile},
		{"--type", "confidential", "--token-endpoint-auth-method", "private_key_jwt"},
		{"--type", "confidential", "--token-endpoint-auth-method", "client_secret_jwt"},
		{"--type", "confidential", "--jwks-file", pubFile},
		{"--type", "confidential", "--backchannel-logout-session-required"},
	} {
		_, _, err := c.run("", append([]string{"client", "create", "--name", "x", "--redirect-uri", "https://a.example/cb"}, args...)...)
		if err == nil {
			t.Errorf("create %v succeeded", args)
		}
	}
	// A plain confidential client still gets a secret.
	out = c.mustRun("", "client", "create", "--name", "Plain", "--type", "confidential", "--redirect-uri", "https://a.example/cb", "--json")
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ClientSecret == "" {
		t.Fatalf("plain confidential client: %s (%v)", out, err)
	}
}
