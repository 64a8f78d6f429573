package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/myaccount/myaccount/internal/osslrsa"
	"github.com/myaccount/myaccount/internal/server"
	"github.com/myaccount/myaccount/storage"
)

// TestRS256BackendsEndToEnd: whichever backend signs RS256 (MYACCOUNT_KEYS_OPENSSL auto:
// OpenSSL 3 where present; off: Go's crypto/rsa), a code flow's ID token is RS256, names a
// published kid and verifies with coreos/go-oidc; and the setting reaches the key manager
// the server builds, which says which backend it uses.
func TestRS256BackendsEndToEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ mode, backend string }{{"auto", "openssl"}, {"off", "go"}} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			backend := tc.backend
			if _, err := osslrsa.Version(); err != nil && tc.mode == "auto" {
				if os.Getenv("CI") == "true" {
					t.Fatalf("OpenSSL 3 is required on CI (CI=true): %v", err)
				}
				backend = "go"
			}
			e := newEnvWith(t, envOptions{env: map[string]string{"MYACCOUNT_KEYS_OPENSSL": tc.mode}})
			if e.cfg.Keys.OpenSSL != tc.mode {
				t.Fatalf("keys.openssl = %q, want %q", e.cfg.Keys.OpenSSL, tc.mode)
			}
			ctx := context.Background()
			e.addUser("ada@example.com")
			c := e.addClient(storage.ClientConfidential, firstParty)
			tok := e.tokens(ctx, e.browser(), c, "ada@example.com")
			raw, _ := tok.Extra("id_token").(string)
			if _, err := e.provider(ctx).Verifier(&gooidc.Config{ClientID: c.ID}).Verify(ctx, raw); err != nil {
				t.Fatalf("verify ID token: %v", err)
			}
			var h struct{ Alg, Kid string }
			seg, _, _ := strings.Cut(raw, ".")
			if b, err := base64.RawURLEncoding.DecodeString(seg); err != nil || json.Unmarshal(b, &h) != nil {
				t.Fatalf("ID token header %q unreadable", seg)
			}
			active, err := e.srv.Keys.Signer(ctx, "RS256")
			if err != nil {
				t.Fatal(err)
			}
			if h.Alg != "RS256" || h.Kid != active.ID() {
				t.Fatalf("ID token header alg %q kid %q, want RS256 %q", h.Alg, h.Kid, active.ID())
			}

			// The same constructor the server uses, with a log we can read.
			mk, _, err := server.MasterKey(ctx, e.cfg, e.store)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			km, err := server.NewKeyManager(e.cfg, e.store, mk, slog.New(slog.NewTextHandler(&logs, nil)), nil)
			if err != nil {
				t.Fatal(err)
			}
			k, err := km.Signer(ctx, "RS256")
			if err != nil {
				t.Fatal(err)
			}
			s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg(), Key: &jose.JSONWebKey{Key: k.JOSESigner(), KeyID: k.ID()}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Sign([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if want := "backend=" + backend; !strings.Contains(logs.String(), want) {
				t.Fatalf("log does not say %s:\n%s", want, logs.String())
			}
		})
	}
}
