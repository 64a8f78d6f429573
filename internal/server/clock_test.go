package server_test

import (
	"errors"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// TestStoreFollowsTheServerClock: Options.Now reaches the store too, wherever it reads the
// time itself (default timestamps, the expiry of authorization requests), so a deployment and
// its tests have one clock. With the server three days ahead of the wall clock, a request
// that expires in an hour of server time is expired two server hours later, although the
// wall clock is nowhere near its expiry.
func TestStoreFollowsTheServerClock(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.clock.Advance(72 * time.Hour)
	now := e.clock.Now()

	c := &storage.Client{ID: "clocked", Name: "Clocked", Type: storage.ClientPublic, RedirectURIs: []string{"https://app.example/cb"}}
	if err := e.store.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if d := c.CreatedAt.Sub(now).Abs(); d > time.Second {
		t.Errorf("CreatedAt = %v, %v away from the server's now %v", c.CreatedAt, d, now)
	}

	ar := &storage.AuthRequest{ID: "ar-clocked", ClientID: c.ID, RedirectURI: "https://app.example/cb",
		Scopes: []string{"openid"}, ResponseType: "code", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := e.store.CreateAuthRequest(ctx, ar); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.GetAuthRequest(ctx, ar.ID); err != nil {
		t.Fatalf("fresh request: %v", err)
	}
	e.clock.Advance(2 * time.Hour)
	if _, err := e.store.GetAuthRequest(ctx, ar.ID); !errors.Is(err, storage.ErrExpired) {
		t.Errorf("request past its expiry in server time: %v, want ErrExpired", err)
	}
	if err := e.store.CompleteAuthRequest(ctx, ar.ID, "nobody", "s", now, nil, ""); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("completing an expired request: %v, want ErrNotFound", err)
	}
}
