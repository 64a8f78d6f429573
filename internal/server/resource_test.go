package server_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/storage"
)

const (
	apiResource   = "https://api.example/"
	filesResource = "https://files.example/"
)

func withResources(r ...string) clientOpt { return func(c *storage.Client) { c.Resources = r } }

// audOf reads a JWT's aud as a list.
func audOf(t *testing.T, jwt string) []string {
	t.Helper()
	switch a := jwtPayload(t, jwt)["aud"].(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, v := range a {
			s, _ := v.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// RFC 8707 with client_credentials: the token's aud names the resources asked for; an
// unregistered resource, or one with a fragment, is invalid_target.
func TestResourceIndicatorsClientCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.addClient(storage.ClientConfidential, withGrants("client_credentials"), withResources(apiResource, filesResource))
	cc := func(res ...string) (int, string) {
		st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "resource": res}, c.ID, c.Secret)
		return st, body
	}
	st, body := cc(apiResource)
	if st != http.StatusOK {
		t.Fatalf("%d %s", st, body)
	}
	if aud := audOf(t, jsonStr(body, "access_token")); !slices.Contains(aud, apiResource) || slices.Contains(aud, filesResource) {
		t.Errorf("aud = %v, want %s and not %s", aud, apiResource, filesResource)
	}
	st, body = cc(apiResource, filesResource)
	if aud := audOf(t, jsonStr(body, "access_token")); st != http.StatusOK || !slices.Contains(aud, apiResource) || !slices.Contains(aud, filesResource) {
		t.Errorf("two resources: %d aud = %v", st, aud)
	}
	for _, bad := range []string{"https://other.example/", apiResource + "#frag", apiResource + "#", "/relative", "urn:x"} {
		if st, body := cc(bad); st != http.StatusBadRequest || jsonStr(body, "error") != "invalid_target" {
			t.Errorf("resource %q: %d %s, want 400 invalid_target", bad, st, body)
		}
	}
}

// RFC 8707 in the code flow: the resource asked for at /authorize becomes the access token's
// aud; a refresh may narrow it, not widen it; /authorize refuses an unregistered one.
func TestResourceIndicatorsCodeFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	c := e.addClient(storage.ClientConfidential, firstParty, withResources(apiResource, filesResource))
	e.addUser("res@example.com")
	tok := e.tokens(ctx, e.browser(), c, "res@example.com",
		oauth2.SetAuthURLParam("resource", apiResource))
	if aud := audOf(t, tok.AccessToken); !slices.Contains(aud, apiResource) || !slices.Contains(aud, c.ID) {
		t.Errorf("aud = %v, want the client and %s", aud, apiResource)
	}
	refresh := func(res ...string) (int, string) {
		st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"},
			"refresh_token": {tok.RefreshToken}, "resource": res}, c.ID, c.Secret)
		return st, body
	}
	// Widening to a registered but not granted resource.
	if st, body := refresh(filesResource); st != http.StatusBadRequest || jsonStr(body, "error") != "invalid_target" {
		t.Errorf("refresh widening: %d %s, want 400 invalid_target", st, body)
	}
	st, body := refresh(apiResource)
	if st != http.StatusOK {
		t.Fatalf("refresh naming the granted resource: %d %s", st, body)
	}
	if aud := audOf(t, jsonStr(body, "access_token")); !slices.Contains(aud, apiResource) {
		t.Errorf("refreshed aud = %v", aud)
	}

	// An unregistered resource at /authorize comes back as invalid_target.
	b := e.browser()
	p := b.get(e.oauth2Config(c).AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
		oauth2.SetAuthURLParam("resource", "https://other.example/")))
	if res := redirectResult(t, p, c.Redirect); res.err != "invalid_target" {
		t.Errorf("unregistered resource at /authorize: error %q, want invalid_target", res.err)
	}
}

// Resource indicators through PAR (RFC 9126 + RFC 8707): checked when pushed; two registered
// resources pushed come back in the code's tokens.
func TestResourceIndicatorsPushed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.addClient(storage.ClientConfidential, firstParty, withResources(apiResource, filesResource))
	form, _, _ := parForm(c)
	form["resource"] = []string{"https://other.example/"}
	if st, _, body := e.push(form, c.ID, c.Secret); st != http.StatusBadRequest || jsonStr(body, "error") != "invalid_target" {
		t.Errorf("unregistered resource pushed: %d %s, want 400 invalid_target", st, body)
	}
	e.addUser("res-par@example.com")
	form, verifier, _ := parForm(c)
	form["resource"] = []string{apiResource, filesResource}
	st, pr, body := e.push(form, c.ID, c.Secret)
	if st != http.StatusCreated {
		t.Fatalf("two registered resources pushed: %d %s, want 201", st, body)
	}
	b := e.browser()
	p := b.get(e.issuer + "/authorize?" + url.Values{"client_id": {c.ID}, "request_uri": {pr.RequestURI}}.Encode())
	p = b.submitLogin(p, "res-par@example.com", testPassword)
	if strings.Contains(p.body, `action="/consent"`) {
		p = b.consent(p, "allow")
	}
	res := redirectResult(t, p, c.Redirect)
	tok, err := e.oauth2Config(c).Exchange(context.Background(), res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if aud := audOf(t, tok.AccessToken); !slices.Contains(aud, apiResource) || !slices.Contains(aud, filesResource) {
		t.Errorf("aud = %v, want both pushed resources", aud)
	}
}
