package server_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/storage"
)

// loopbackApp is a desktop app's sign-in: it listens on an ephemeral loopback port, as
// RFC 8252 §7.3 describes, and receives the authorization response there.
type loopbackApp struct {
	redirect string
	got      chan url.Values
	srv      *http.Server
}

func startLoopbackApp(t *testing.T, network, host string) *loopbackApp {
	t.Helper()
	ln, err := net.Listen(network, net.JoinHostPort(host, "0"))
	if err != nil {
		t.Skipf("no %s loopback here: %v", network, err)
	}
	app := &loopbackApp{got: make(chan url.Values, 1)}
	port := ln.Addr().(*net.TCPAddr).Port
	app.redirect = fmt.Sprintf("http://%s/callback", net.JoinHostPort(host, fmt.Sprint(port)))
	app.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		app.got <- r.URL.Query()
		fmt.Fprintln(w, "You can close this window.")
	})}
	go app.srv.Serve(ln)
	t.Cleanup(func() { app.srv.Close() })
	return app
}

func TestNativeAppLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, network, host, registered string }{
		{"ipv4", "tcp4", "127.0.0.1", "http://127.0.0.1/callback"},
		{"ipv6", "tcp6", "::1", "http://[::1]/callback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			e.addUser("ada@example.com")
			c := e.addClient(storage.ClientNative, firstParty, func(c *storage.Client) { c.RedirectURIs = []string{tc.registered} })
			app := startLoopbackApp(t, tc.network, tc.host)
			cfg := e.oauth2Config(c)
			cfg.RedirectURL = app.redirect
			cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
			verifier := oauth2.GenerateVerifier()
			// The "system browser": follows every redirect, including to the app.
			b := e.browser()
			b.c.CheckRedirect = nil
			p := b.get(cfg.AuthCodeURL("native-state", oauth2.S256ChallengeOption(verifier)))
			p = b.submitLogin(p, "ada@example.com", testPassword)
			if !strings.Contains(p.body, "close this window") {
				t.Fatalf("browser did not land at the app: %d %s", p.status, p.url)
			}
			var q url.Values
			select {
			case q = <-app.got:
			case <-time.After(5 * time.Second):
				t.Fatal("the app never received the callback")
			}
			if q.Get("state") != "native-state" || q.Get("code") == "" {
				t.Fatalf("callback query %v", q)
			}
			// A public client: no secret, PKCE proves it is the same app.
			tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := tok.Extra("id_token").(string)
			if _, err := e.provider(ctx).Verifier(&gooidc.Config{ClientID: c.ID}).Verify(ctx, raw); err != nil {
				t.Fatal(err)
			}
			// Without the verifier the code is useless to anyone who intercepted it.
			p = b.get(cfg.AuthCodeURL("again", oauth2.S256ChallengeOption(verifier)))
			select {
			case q = <-app.got:
			case <-time.After(5 * time.Second):
				t.Fatal("no second callback")
			}
			if _, err := cfg.Exchange(ctx, q.Get("code")); err == nil {
				t.Error("code exchanged without the PKCE verifier")
			}
		})
	}
}

func TestNativeAppRedirectRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientNative, firstParty, func(c *storage.Client) {
		c.RedirectURIs = []string{"http://127.0.0.1/callback", "com.example.vault:/oauth2redirect", "https://app.example.com/native/callback"}
	})
	verifier, _ := pkce()
	start := func(redirect string) *page {
		cfg := e.oauth2Config(c)
		cfg.RedirectURL = redirect
		return e.browser().get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	}
	t.Run("private-use scheme", func(t *testing.T) {
		b := e.browser()
		cfg := e.oauth2Config(c)
		cfg.RedirectURL = "com.example.vault:/oauth2redirect"
		p := b.submitLogin(b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))), "ada@example.com", testPassword)
		if loc := p.header.Get("Location"); !strings.HasPrefix(loc, "com.example.vault:/oauth2redirect?") || !strings.Contains(loc, "code=") {
			t.Errorf("redirect %q", loc)
		}
	})
	t.Run("claimed https", func(t *testing.T) {
		if p := start("https://app.example.com/native/callback"); !strings.Contains(p.body, `action="/login"`) {
			t.Errorf("claimed https refused: %d", p.status)
		}
	})
	for name, redirect := range map[string]string{
		"unregistered scheme":                    "com.example.other:/oauth2redirect",
		"path mismatch":                          "http://127.0.0.1:43210/other",
		"localhost when 127.0.0.1 is registered": "http://localhost:43210/callback",
		"https on loopback":                      "https://127.0.0.1:43210/callback",
		"scheme path mismatch":                   "com.example.vault:/other",
	} {
		t.Run(name, func(t *testing.T) {
			p := start(redirect)
			if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
				t.Errorf("%s: %d, Location %q; want an error page", redirect, p.status, p.header.Get("Location"))
			}
		})
	}
	t.Run("native client has no secret", func(t *testing.T) {
		st, _, _ := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, "anything")
		if st == 200 {
			t.Error("a native client authenticated with a secret")
		}
	})
}
