package account_test

import (
	"context"
	"testing"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// anyPlace accepts every country, region, zone and date format: the profile's rules are not
// what this file tests.
type anyPlace struct{}

func (anyPlace) ValidCountry(string) bool        { return true }
func (anyPlace) ValidRegion(string, string) bool { return true }
func (anyPlace) ValidTimeZone(string) bool       { return true }
func (anyPlace) ValidDateFormat(id string) bool  { return true }

// TestChangesCommitWithTheirEvents: a profile update, the withdrawal of an app's access and
// an installation's sign-out commit with their activity events. When the event cannot be written the change is not
// made and the error is returned; the retry makes it with one event. Before, the change
// committed and the event was written after it, best effort, and lost on a failure.
func TestChangesCommitWithTheirEvents(t *testing.T) {
	ctx := context.Background()
	svc, db := newService(t)
	fs := faultstore.New(db)
	svc.Store = fs
	u, err := svc.Create(ctx, "ada@example.com", "a long enough passphrase", storage.UserActive)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateClient(ctx, &storage.Client{ID: "app", Name: "App", Type: storage.ClientConfidential}); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveConsent(ctx, &storage.Consent{UserID: u.ID, ClientID: "app", Scopes: []string{"openid"}}); err != nil {
		t.Fatal(err)
	}
	events := func(typ string) int {
		evs, err := db.QueryAuditEvents(ctx, storage.AuditQuery{UserID: u.ID, Type: typ, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	p := account.Profile{Country: "DE", Region: "BY", ZoneInfo: "Europe/Berlin", DateFormat: "dmy-dot"}
	fs.Add(faultstore.Rule{Method: "AddAuditEvent", Times: 1, Err: faultstore.ErrInjected})
	if _, err := svc.UpdateProfile(ctx, anyPlace{}, u.ID, p, account.Meta{}); err == nil {
		t.Fatal("profile update with its event failing: no error")
	}
	if got, err := db.GetUser(ctx, u.ID); err != nil || got.Country != "" || events("profile_updated") != 0 {
		t.Fatalf("a failed profile update stored country %q (%v)", got.Country, err)
	}
	if _, err := svc.UpdateProfile(ctx, anyPlace{}, u.ID, p, account.Meta{}); err != nil {
		t.Fatal(err)
	}
	if events("profile_updated") != 1 {
		t.Errorf("%d profile_updated events, want 1", events("profile_updated"))
	}

	fs.Add(faultstore.Rule{Method: "AddAuditEvent", Times: 1, Err: faultstore.ErrInjected})
	if err := svc.RemoveAppAccess(ctx, u.ID, "app", account.Meta{}); err == nil {
		t.Fatal("access removal with its event failing: no error")
	}
	if _, err := db.GetConsent(ctx, u.ID, "app"); err != nil {
		t.Fatalf("a failed removal forgot the consent: %v", err)
	}
	if err := svc.RemoveAppAccess(ctx, u.ID, "app", account.Meta{}); err != nil {
		t.Fatal(err)
	}
	if events("app_access_removed") != 1 {
		t.Errorf("%d app_access_removed events, want 1", events("app_access_removed"))
	}

	if err := db.CreateGrant(ctx, &storage.Grant{ID: "g-tv", UserID: u.ID, ClientID: "app"}); err != nil {
		t.Fatal(err)
	}
	fs.Add(faultstore.Rule{Method: "AddAuditEvent", Times: 1, Err: faultstore.ErrInjected})
	if _, err := svc.SignOutInstallation(ctx, u.ID, "g-tv", account.Meta{}); err == nil {
		t.Fatal("installation sign-out with its event failing: no error")
	}
	if g, err := db.GetGrant(ctx, "g-tv"); err != nil || g.RevokedAt != nil {
		t.Fatalf("a failed sign-out revoked the installation (%v)", err)
	}
	if _, err := svc.SignOutInstallation(ctx, u.ID, "g-tv", account.Meta{}); err != nil {
		t.Fatal(err)
	}
	if events("device_signed_out") != 1 {
		t.Errorf("%d device_signed_out events, want 1", events("device_signed_out"))
	}
}
