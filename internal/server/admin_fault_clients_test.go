package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// failAuditOnce makes the next audit event fail to be written.
func failAuditOnce(fs *faultstore.Store) {
	fs.Add(faultstore.Rule{Method: "AddAuditEvent", Err: faultstore.ErrInjected, Times: 1})
}

// TestAdminCreateClientFaultRetries: a client change whose audit event could not be written is not
// done (503), and its retry finishes it, audited once. Before, each change committed first:
// a create left a client nobody had the secret of, and its retry made a second one; an update
// with If-Match was refused on retry (412); a deletion was gone unaudited and its retry
// answered 404; a secret rotation had already broken the old secret, the new one unshown.
func TestAdminCreateClientFaultRetries(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	ctx := context.Background()
	_, tok := e.automation(t, admin.ScopeWrite, admin.ScopeRead)
	countClients := func() int {
		cs, err := e.store.ListClients(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(cs)
	}
	events := func(typ, id string) int { return adminEvents(t, e, typ, "client:"+id) }
	before := countClients()
	spec := map[string]any{"name": "Billing robot", "type": "confidential",
		"grant_types": []string{"client_credentials"}, "scopes": []string{"api.read"}}
	failAuditOnce(fs)
	e.call(t, "POST", "/clients", tok, spec).problem(t, http.StatusServiceUnavailable)
	if n := countClients(); n != before {
		t.Errorf("the 503 left %d clients, want %d (none created)", n, before)
	}
	a := e.call(t, "POST", "/clients", tok, spec)
	if a.status != 201 {
		t.Fatalf("create retry: %d %s", a.status, a.body)
	}
	var created struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	a.json(t, &created)
	if n := countClients(); n != before+1 || events("admin.client.create", created.ClientID) != 1 {
		t.Errorf("after the retry: %d clients (want %d), %d create events", n, before+1, events("admin.client.create", created.ClientID))
	}
}

// TestAdminUpdateClientFaultRetries: see TestAdminCreateClientFaultRetries.
func TestAdminUpdateClientFaultRetries(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	_, tok := e.automation(t, admin.ScopeWrite, admin.ScopeRead)
	robot := e.addClient(storage.ClientConfidential, withGrants("client_credentials"), func(c *storage.Client) { c.Scopes = []string{"api.read"} })
	events := func(typ, id string) int { return adminEvents(t, e, typ, "client:"+id) }

	// With If-Match: the retry with the same ETag finishes it.
	etag := e.call(t, "GET", "/clients/"+robot.ID, tok, nil).header.Get("ETag")
	patch := map[string]any{"name": "Billing robot v2"}
	failAuditOnce(fs)
	e.call(t, "PATCH", "/clients/"+robot.ID, tok, patch, "If-Match", etag).problem(t, http.StatusServiceUnavailable)
	if up := e.call(t, "PATCH", "/clients/"+robot.ID, tok, patch, "If-Match", etag); up.status != 200 || !strings.Contains(up.body, "Billing robot v2") {
		t.Fatalf("update retry: %d %s", up.status, up.body)
	}
	if n := events("admin.client.update", robot.ID); n != 1 {
		t.Errorf("%d update events, want 1", n)
	}

}

// TestAdminRotateSecretFaultIsAtomic: see TestAdminCreateClientFaultRetries.
func TestAdminRotateSecretFaultIsAtomic(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	ctx := context.Background()
	_, tok := e.automation(t, admin.ScopeWrite, admin.ScopeRead)
	robot := e.addClient(storage.ClientConfidential, withGrants("client_credentials"), func(c *storage.Client) { c.Scopes = []string{"api.read"} })
	events := func(typ, id string) int { return adminEvents(t, e, typ, "client:"+id) }

	// The 503 leaves the old secret as it was.
	old, err := e.store.GetClient(ctx, robot.ID)
	if err != nil {
		t.Fatal(err)
	}
	failAuditOnce(fs)
	e.call(t, "POST", "/clients/"+robot.ID+"/rotate-secret", tok, nil).problem(t, http.StatusServiceUnavailable)
	time.Sleep(1100 * time.Millisecond) // past the client cache's second (storage/clientcache)
	if now, err := e.store.GetClient(ctx, robot.ID); err != nil || now.SecretHash != old.SecretHash {
		t.Errorf("the 503 rotated the secret unshown (err %v)", err)
	}
	e.scopedToken(t, robot, "api.read") // the old secret still works
	rot := e.call(t, "POST", "/clients/"+robot.ID+"/rotate-secret", tok, nil)
	var rotated struct {
		ClientSecret string `json:"client_secret"`
	}
	rot.json(t, &rotated)
	if rot.status != 200 || rotated.ClientSecret == "" || events("admin.client.rotate_secret", robot.ID) != 1 {
		t.Fatalf("rotate retry: %d %s, %d events", rot.status, rot.body, events("admin.client.rotate_secret", robot.ID))
	}
	robot.Secret = rotated.ClientSecret
	e.scopedToken(t, robot, "api.read")

}

// TestAdminDeleteClientFaultRetries: see TestAdminCreateClientFaultRetries.
func TestAdminDeleteClientFaultRetries(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	ctx := context.Background()
	_, tok := e.automation(t, admin.ScopeWrite, admin.ScopeRead)
	robot := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	events := func(typ, id string) int { return adminEvents(t, e, typ, "client:"+id) }

	// With If-Match: the retry deletes, audited once.
	etag := e.call(t, "GET", "/clients/"+robot.ID, tok, nil).header.Get("ETag")
	failAuditOnce(fs)
	e.call(t, "DELETE", "/clients/"+robot.ID, tok, nil, "If-Match", etag).problem(t, http.StatusServiceUnavailable)
	if d := e.call(t, "DELETE", "/clients/"+robot.ID, tok, nil, "If-Match", etag); d.status != 204 {
		t.Fatalf("delete retry: %d %s", d.status, d.body)
	}
	if n := events("admin.client.delete", robot.ID); n != 1 {
		t.Errorf("%d delete events, want 1", n)
	}
	if _, err := e.store.GetClient(ctx, robot.ID); err == nil {
		t.Error("the client is still there")
	}
}
