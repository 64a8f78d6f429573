package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/backchannel"
	"github.com/myaccount/myaccount/internal/server"
	"github.com/myaccount/myaccount/storage"
)

// TestUserSignoutQueuesLogoutTokens: `user signout` ends the sessions through the sessions
// service and queues a logout token for the client of the grant in the outbox the servers'
// workers deliver from.
func TestUserSignoutQueuesLogoutTokens(t *testing.T) {
	c := newCLI(t)
	var u userView
	if err := json.Unmarshal([]byte(c.mustRun("a very long password\n", "user", "create", "--email", "ada@example.com", "--password-stdin", "--json")), &u); err != nil {
		t.Fatal(err)
	}
	var created struct {
		ClientID string `json:"client_id"`
	}
	out := c.mustRun("", "client", "create", "--name", "Shop", "--type", "confidential", "--redirect-uri", "https://shop.example/cb",
		"--backchannel-logout-uri", "https://shop.example/backchannel", "--json")
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg, err := loadConfig(env{getenv: func(k string) string {
		if k == "MYACCOUNT_DATA_DIR" {
			return c.dir
		}
		return ""
	}}, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	if err := st.CreateSession(ctx, &storage.Session{ID: "sess1", TokenHash: "h1", UserID: u.ID, AuthTime: now,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateGrant(ctx, &storage.Grant{ID: "grant1", UserID: u.ID, ClientID: created.ClientID, SessionID: "sess1",
		Scopes: []string{"openid"}, AuthTime: now, CreatedAt: now, LastUsedAt: now}); err != nil {
		t.Fatal(err)
	}
	c.mustRun("", "user", "signout", "ada@example.com")
	items, err := st.ClaimOutbox(ctx, "test", []string{backchannel.TaskKind}, 10, time.Minute, time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Kind != backchannel.TaskKind {
		t.Fatalf("queued %d items %+v, want one %s task", len(items), items, backchannel.TaskKind)
	}
	if s, err := st.GetSession(ctx, "sess1"); err != nil || s.RevokedAt == nil {
		t.Errorf("session not ended: %+v %v", s, err)
	}
}
