package server_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/admin"
)

// TestAdminCreateClientIdempotencyKey: a script whose answer to "create a client" was lost
// (a timeout, a dropped connection) retries with the same Idempotency-Key and gets the client
// its first request created, with a new secret (the lost one stops working), not a second
// client beside it whose secret nobody holds. Before, every retry created another client.
// The key with another request, after its 24 hours, or after the client was deleted is 422;
// without a key every request creates a client, as before.
func TestAdminCreateClientIdempotencyKey(t *testing.T) {
	t.Parallel()
	createClientIdempotencyKey(t, newEnv(t))
}

// TestAdminCreateClientIdempotencyKeyPostgres is its twin on PostgreSQL, where the retry's
// insert of the client the key names aborted the transaction: every retry answered 503.
func TestAdminCreateClientIdempotencyKeyPostgres(t *testing.T) {
	t.Parallel()
	createClientIdempotencyKey(t, newEnvWith(t, envOptions{env: postgresVars(t)}))
}

func createClientIdempotencyKey(t *testing.T, e *testEnv) {
	robot, tok := e.automation(t, admin.ScopeWrite)
	spec := map[string]any{"name": "Nightly export", "type": "confidential",
		"grant_types": []string{"client_credentials"}, "scopes": []string{"api.read"}}
	type created struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	create := func(body map[string]any, key string) (apiAnswer, created) {
		t.Helper()
		var hdr []string
		if key != "" {
			hdr = []string{"Idempotency-Key", key}
		}
		a := e.call(t, "POST", "/clients", tok, body, hdr...)
		var c created
		if a.status == 201 {
			a.json(t, &c)
		}
		return a, c
	}
	works := func(c created) bool {
		st, _, _ := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"api.read"}}, c.ClientID, c.ClientSecret)
		return st == 200
	}

	a, lost := create(spec, "export-2026-12-07")
	if a.status != 201 || lost.ClientSecret == "" {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	a, retry := create(spec, "export-2026-12-07")
	if a.status != 201 || retry.ClientID != lost.ClientID || retry.ClientSecret == "" || retry.ClientSecret == lost.ClientSecret {
		t.Fatalf("the retry: %d %s; want 201 with client %s and a new secret", a.status, a.body, lost.ClientID)
	}
	if works(lost) || !works(retry) {
		t.Errorf("after the retry: the lost secret works %v, the retry's %v; want only the retry's", works(lost), works(retry))
	}
	var page struct {
		Items []admin.Client `json:"items"`
	}
	e.call(t, "GET", "/clients?limit=100", tok, nil).json(t, &page)
	n := 0
	for _, c := range page.Items {
		if c.Name == "Nightly export" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d clients named Nightly export, want 1", n)
	}

	// A client without a secret: the retry answers with it as it is.
	pub := map[string]any{"name": "Kiosk", "type": "public", "redirect_uris": []string{"https://kiosk.example/cb"}}
	_, p1 := create(pub, "kiosk-1")
	if a, p2 := create(pub, "kiosk-1"); a.status != 201 || p1.ClientID == "" || p2.ClientID != p1.ClientID || p2.ClientSecret != "" {
		t.Errorf("a public client's retry: %d %s; want 201 with client %s and no secret", a.status, a.body, p1.ClientID)
	}

	// The key with another request: refused, and nothing changes.
	other := map[string]any{"name": "Nightly export", "type": "confidential",
		"grant_types": []string{"client_credentials"}, "scopes": []string{"api.write"}}
	if a, _ := create(other, "export-2026-12-07"); a.status != 422 {
		t.Errorf("the key with another body: %d %s, want 422", a.status, a.body)
	}
	if !works(retry) {
		t.Error("a refused reuse of the key changed the client's secret")
	}
	// Another key, or none: another client.
	if _, c := create(spec, "export-2026-12-08"); c.ClientID == "" || c.ClientID == lost.ClientID {
		t.Errorf("another key gave client %q, want a new one", c.ClientID)
	}
	if _, c := create(spec, ""); c.ClientID == "" || c.ClientID == lost.ClientID {
		t.Errorf("no key gave client %q, want a new one", c.ClientID)
	}
	// After its window the key no longer answers.
	_, old := create(spec, "export-old")
	e.clock.Advance(admin.IdempotencyWindow + time.Minute)
	tok = e.scopedToken(t, robot, admin.ScopeWrite)
	if a, _ := create(spec, "export-old"); a.status != 422 {
		t.Errorf("the key after its window: %d %s, want 422", a.status, a.body)
	}
	// Deleted since: not recreated.
	etag := e.call(t, "GET", "/clients/"+old.ClientID, tok, nil).header.Get("ETag")
	if a := e.call(t, "DELETE", "/clients/"+old.ClientID, tok, nil, "If-Match", etag); a.status != 204 {
		t.Fatalf("delete: %d %s", a.status, a.body)
	}
	if a, _ := create(spec, "export-old"); a.status != 422 {
		t.Errorf("the key of a deleted client: %d %s, want 422", a.status, a.body)
	}
	e.call(t, "GET", "/clients/"+old.ClientID, tok, nil).problem(t, 404)
	// A key longer than the API takes is refused before anything is created.
	if a, _ := create(spec, strings.Repeat("k", 256)); a.status != 400 {
		t.Errorf("a key of 256 characters: %d, want 400", a.status)
	}
}
