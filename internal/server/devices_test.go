package server_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/storage"
)

var grantFormRE = regexp.MustCompile(`name="grant_id" value="([^"]+)"`)

func TestMyDevices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	// Installation clients (they may use the device grant: see account.IsInstallation), and
	// confidential, so that the test can introspect their access tokens.
	installed := withGrants("authorization_code", "refresh_token", grantDevice)
	vault := e.addClient(storage.ClientConfidential, firstParty, installed, func(c *storage.Client) { c.Name = "Encrypted Vault" })
	av := e.addClient(storage.ClientConfidential, firstParty, installed, func(c *storage.Client) { c.Name = "Antivirus Desktop" })
	b := e.browser()
	tv := e.tokens(ctx, b, vault, "ada@example.com", oauth2.SetAuthURLParam("device_name", "Office laptop"))
	ta := e.tokens(ctx, b, av, "ada@example.com")
	p := b.get(e.issuer + "/account/devices")
	for _, want := range []string{"Encrypted Vault", "Office laptop", "Antivirus Desktop", "Go HTTP client", "This browser"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("devices page lacks %q", want)
		}
	}
	ids := grantFormRE.FindAllStringSubmatch(p.body, -1)
	if len(ids) != 2 {
		t.Fatalf("%d installations listed, want 2", len(ids))
	}
	// Sign out the vault: its refresh fails at once, the antivirus keeps working.
	var vaultGrant string
	for _, m := range ids {
		if g, _ := e.store.GetGrant(ctx, m[1]); g != nil && g.ClientID == vault.ID {
			vaultGrant = m[1]
		}
	}
	f := p.formValues()
	f.Set("grant_id", vaultGrant)
	if p := b.post(e.issuer+"/account/devices/revoke", f); !strings.Contains(p.body, "signed out") {
		t.Fatalf("revoke: %d %.200s", p.status, p.body)
	}
	refresh := func(c *testClient, rt string) int {
		st, _, _ := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, c.ID, c.Secret)
		return st
	}
	if st := refresh(vault, tv.RefreshToken); st != 400 {
		t.Errorf("signed-out device still refreshes: %d", st)
	}
	if e.introspectActive(vault, tv.AccessToken) {
		t.Error("signed-out device's access token still active")
	}
	if st := refresh(av, ta.RefreshToken); st != 200 {
		t.Errorf("the other device was signed out too: %d", st)
	}
	// Someone else's grant id is refused.
	other := e.addUser("eve@example.com")
	evil := e.browser()
	ts := e.tokens(ctx, evil, vault, "eve@example.com")
	_ = ts
	grants, _ := e.store.ListGrants(ctx, other.ID)
	f.Set("grant_id", grants[0].ID)
	if p := b.post(e.issuer+"/account/devices/revoke", f); p.status != http.StatusNotFound {
		t.Errorf("revoking another user's device: %d", p.status)
	}
	if g, _ := e.store.GetGrant(ctx, grants[0].ID); g.RevokedAt != nil {
		t.Error("another user's device was signed out")
	}
}

func TestSignOutEverywhereElse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	here, there := e.browser(), e.browser()
	tok := e.tokens(ctx, there, c, "ada@example.com")
	e.signIn(here, c, "ada@example.com")
	p := here.get(e.issuer + "/account/devices")
	if n := strings.Count(p.body, `name="session_id"`); n != 2 {
		t.Fatalf("%d browser sessions listed, want 2", n)
	}
	here.post(e.issuer+"/account/signout-others", p.formValues())
	if p := here.get(e.issuer + "/account"); !strings.Contains(p.body, "ada@example.com") {
		t.Error("this browser was signed out too")
	}
	if p := there.get(e.issuer + "/account"); strings.Contains(p.body, "ada@example.com") {
		t.Error("the other browser is still signed in")
	}
	if st, _, _ := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, c.ID, c.Secret); st != 400 {
		t.Errorf("installation survived sign-out everywhere: %d", st)
	}
}
