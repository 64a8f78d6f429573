package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/storage"
)

// TestSignInAnswersTheClientDirectly: the password post that completes a code flow answers
// with the authorization response itself (code, state and iss at the client's redirect URI,
// its own query kept; in the fragment when asked), not with a trip through
// /authorize/callback, and the code works exactly once. A response mode discovery does not
// name (form_post) is refused at /authorize, at the redirect URI.
func TestSignInAnswersTheClientDirectly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	var redirect string
	c := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) {
		redirect = c.RedirectURIs[0] + "?tenant=a+b"
		c.RedirectURIs = []string{redirect}
	})
	c.Redirect = redirect
	state := "s &=?#1"
	for _, mode := range []string{"", "query", "fragment"} {
		t.Run("mode="+mode, func(t *testing.T) {
			b := e.noFollow()
			verifier, _ := pkce()
			cfg := e.oauth2Config(c)
			opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
			if mode != "" {
				opts = append(opts, oauth2.SetAuthURLParam("response_mode", mode))
			}
			p := b.get(cfg.AuthCodeURL(state, opts...))
			p = b.get(resolve(e.issuer, p.header.Get("Location")))
			p = b.submitLogin(p, "ada@example.com", testPassword)
			loc := p.header.Get("Location")
			if p.status != http.StatusSeeOther {
				t.Fatalf("password post: %d, Location %q", p.status, loc)
			}
			u, err := url.Parse(loc)
			if err != nil || !strings.HasPrefix(loc, strings.TrimSuffix(redirect, "?tenant=a+b")) {
				t.Fatalf("password post went to %q, want the client's %q", loc, redirect)
			}
			params := u.Query()
			if mode == "fragment" {
				if params, err = url.ParseQuery(u.EscapedFragment()); err != nil {
					t.Fatal(err)
				}
				if u.Query().Get("code") != "" {
					t.Errorf("fragment mode put the code in the query: %q", loc)
				}
			}
			if u.Query().Get("tenant") != "a b" {
				t.Errorf("the redirect URI's own query was not kept: %q", loc)
			}
			if params.Get("state") != state || params.Get("iss") != e.issuer || params.Get("code") == "" {
				t.Fatalf("authorization response %q: want code, state %q and iss %q", loc, state, e.issuer)
			}
			code := params.Get("code")
			tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if idt, _ := tok.Extra("id_token").(string); idt == "" || tok.RefreshToken == "" {
				t.Fatal("the exchange gave no ID token or refresh token")
			}
			var re *oauth2.RetrieveError
			if _, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err == nil ||
				!errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
				t.Fatalf("second exchange of the code: %v, want invalid_grant", err)
			}
		})
	}
	b := e.noFollow()
	verifier, _ := pkce()
	p := b.get(e.oauth2Config(c).AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("response_mode", "form_post")))
	if res := redirectResult(t, p, strings.TrimSuffix(redirect, "?tenant=a+b")); res.err != "invalid_request" || res.state != state || res.code != "" {
		t.Errorf("form_post: %+v, want invalid_request at the redirect URI", res)
	}
}
