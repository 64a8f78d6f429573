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

func TestInstallations(t *testing.T) {
	s, db := newService(t)
	ctx := context.Background()
	for _, id := range []string{"u1", "u2"} {
		if err := db.CreateUser(ctx, &storage.User{ID: id, Email: id + "@example.com", EmailNormalized: id + "@example.com", Status: storage.UserActive}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*storage.Client{
		{ID: "tv", Name: "TV", Type: storage.ClientPublic, GrantTypes: []string{"urn:ietf:params:oauth:grant-type:device_code"}},
		{ID: "phone", Name: "Phone app", Type: storage.ClientNative},
		{ID: "web", Name: "Web app", Type: storage.ClientConfidential},
	} {
		if err := db.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	offline := []string{"openid", "offline_access"}
	for _, g := range []*storage.Grant{
		{ID: "g-tv", UserID: "u1", ClientID: "tv", Scopes: offline},
		{ID: "g-phone", UserID: "u1", ClientID: "phone", Scopes: offline},
		{ID: "g-phone-online", UserID: "u1", ClientID: "phone", Scopes: []string{"openid"}}, // no refresh token: not signed in
		{ID: "g-web", UserID: "u1", ClientID: "web", Scopes: offline},                       // an app, not an installation
		{ID: "g-other", UserID: "u2", ClientID: "tv", Scopes: offline},
	} {
		g.CreatedAt, g.LastUsedAt = t0, t0
		if err := db.CreateGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	ids := func() []string {
		t.Helper()
		got, err := s.Installations(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range got {
			if x.Client.ID != x.Grant.ClientID {
				t.Errorf("installation %s carries client %s", x.Grant.ID, x.Client.ID)
			}
			out = append(out, x.Grant.ID)
		}
		return out
	}
	if got := ids(); len(got) != 2 || !contains(got, "g-tv") || !contains(got, "g-phone") {
		t.Fatalf("installations = %v, want g-tv and g-phone", got)
	}

	// Someone else's grant is not found, and stays live.
	if _, err := s.SignOutInstallation(ctx, "u1", "g-other", account.Meta{}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("signing out someone else's installation: %v, want ErrNotFound", err)
	}
	if g, _ := db.GetGrant(ctx, "g-other"); g.RevokedAt != nil {
		t.Error("someone else's grant was revoked")
	}
	if _, err := s.SignOutInstallation(ctx, "u1", "nope", account.Meta{}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown grant: %v, want ErrNotFound", err)
	}
	g, err := s.SignOutInstallation(ctx, "u1", "g-tv", account.Meta{})
	if err != nil || g.ClientID != "tv" {
		t.Fatalf("SignOutInstallation = %+v, %v", g, err)
	}
	if got := ids(); len(got) != 1 || got[0] != "g-phone" {
		t.Errorf("after signing out the TV: %v, want [g-phone]", got)
	}

	fs := faultstore.New(db)
	fs.Fail("GetClient")
	if _, err := (&account.Service{Store: fs}).Installations(ctx, "u1"); !errors.Is(err, faultstore.ErrInjected) {
		t.Errorf("Installations with a failing store = %v, want the injected failure", err)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
