package account_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

func TestRecentActivity(t *testing.T) {
	_, db := newService(t)
	ctx := context.Background()
	if err := db.CreateUser(ctx, &storage.User{ID: "u1", Email: "u1@example.com", EmailNormalized: "u1@example.com", Status: storage.UserActive}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateClient(ctx, &storage.Client{ID: "cal", Name: "Calendar", Type: storage.ClientPublic}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, e := range []*storage.AuditEvent{
		{ID: "e1", Type: "login"},
		{ID: "e2", Type: "app_revoked", ClientID: "cal"},
		{ID: "e3", Type: "app_revoked", ClientID: "gone"},
	} {
		e.UserID, e.CreatedAt = "u1", t0.Add(time.Duration(i)*time.Minute)
		if err := db.AddAuditEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	fs := faultstore.New(db)
	s := &account.Service{Store: fs}
	got, err := s.RecentActivity(ctx, "u1", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "e3" || got[1].ID != "e2" {
		t.Fatalf("got %d events, first %+v; want e3, e2", len(got), got)
	}
	if got[0].ClientName != "gone" || got[1].ClientName != "Calendar" {
		t.Errorf("client names = %q, %q; want gone, Calendar", got[0].ClientName, got[1].ClientName)
	}
	all, _ := s.RecentActivity(ctx, "u1", 10)
	if len(all) != 3 || all[2].ClientName != "" {
		t.Errorf("an event without a client: %+v", all)
	}

	// A failing database is an error, not an empty history.
	fs.Fail("GetClient")
	if _, err := s.RecentActivity(ctx, "u1", 10); !errors.Is(err, faultstore.ErrInjected) {
		t.Errorf("RecentActivity = %v, want the injected failure", err)
	}
}
