package main

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/registration"
	"github.com/myaccount/myaccount/storage/sqlite"
)

// TestClientRegistrationToken issues an initial access token from the command line and
// spends it: good for exactly --uses registrations.
func TestClientRegistrationToken(t *testing.T) {
	c := newCLI(t)
	var issued struct {
		Token     string `json:"initial_access_token"`
		Uses      int    `json:"uses"`
		ExpiresAt string `json:"expires_at"`
	}
	out := c.mustRun("", "client", "registration-token", "--uses", "2", "--ttl", "1h", "--json")
	if err := json.Unmarshal([]byte(out), &issued); err != nil || issued.Token == "" || issued.Uses != 2 {
		t.Fatalf("registration-token --json = %s (%v)", out, err)
	}
	exp, err := time.Parse(time.RFC3339, issued.ExpiresAt)
	if err != nil || time.Until(exp) < 55*time.Minute || time.Until(exp) > 61*time.Minute {
		t.Fatalf("expires_at %q", issued.ExpiresAt)
	}
	if _, stderr, err := c.run("", "client", "registration-token", "--uses", "0"); err == nil {
		t.Fatalf("--uses 0 accepted (%s)", stderr)
	}
	text := c.mustRun("", "client", "registration-token")
	if !strings.Contains(text, "initial_access_token: ") || !strings.Contains(text, "uses: 1") {
		t.Fatalf("human output:\n%s", text)
	}

	st, err := sqlite.Open(t.Context(), filepath.Join(c.dir, "myaccount.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := &registration.Service{Store: st, ClientURI: func(id string) string { return "https://id.example/connect/register/" + id }}
	md := registration.Metadata{ClientName: "Vault", RedirectURIs: []string{"https://vault.example/cb"}}
	for i := range 2 {
		if _, err := svc.Register(t.Context(), issued.Token, md, "", ""); err != nil {
			t.Fatalf("registration %d: %v", i+1, err)
		}
	}
	if _, err := svc.Register(t.Context(), issued.Token, md, "", ""); !errors.Is(err, registration.ErrInvalidToken) {
		t.Fatalf("third registration with a two-use token: %v", err)
	}
}
