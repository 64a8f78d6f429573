package consent_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/consent"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/backendtest"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/postgres/pgtest"
	"github.com/myaccount/myaccount/storage/sqlstore"
)

// TestMain stops the PostgreSQL server a test started (pgtest starts one only when asked).
func TestMain(m *testing.M) { pgtest.Main(m) }

// TestAllowIsSerialWithAWithdrawal races the consent page's Allow against the person's
// withdrawal of the same app (account.RemoveAppAccess, another tab) on SQLite and on
// PostgreSQL. Either runs first: the withdrawal first leaves only what Allow allows, Allow
// first leaves nothing. Neither leaves the withdrawn scope. Allow read the consent and wrote
// it back merged, and a withdrawal committed in between was undone: the app was allowed the
// withdrawn scope again without the person being asked. Both lock the person first
// (consent.LockConsents).
func TestAllowIsSerialWithAWithdrawal(t *testing.T) {
	backendtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		if err := db.CreateUser(ctx, &storage.User{ID: "u1", Email: "u1@example.com", EmailNormalized: "u1@example.com",
			Status: storage.UserActive}); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateClient(ctx, &storage.Client{ID: "third", Name: "Third", Type: storage.ClientPublic}); err != nil {
			t.Fatal(err)
		}
		// Allow's write is what follows its read: stalled, the withdrawal commits between.
		fs := faultstore.New(db)
		fs.Add(faultstore.Rule{Method: "SaveConsent", Delay: 5 * time.Millisecond})
		now := time.Now().UTC()
		svc := &consent.Service{Store: fs, Now: func() time.Time { return now }}
		accounts := &account.Service{Store: fs, BaseURL: "https://id.example"}
		for round := range 30 {
			// Each round starts from the consent to openid and email (SaveConsent replaces).
			if err := db.SaveConsent(ctx, &storage.Consent{UserID: "u1", ClientID: "third",
				Scopes: []string{"openid", "email"}, GrantedAt: now}); err != nil {
				t.Fatal(err)
			}
			var errAllow, errRemove error
			start := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() { <-start; errAllow = svc.Allow(ctx, "u1", "third", []string{"openid", "profile"}) })
			wg.Go(func() { <-start; errRemove = accounts.RemoveAppAccess(ctx, "u1", "third", account.Meta{}) })
			close(start)
			wg.Wait()
			if errAllow != nil || errRemove != nil {
				t.Fatalf("round %d: allow: %v; remove: %v", round, errAllow, errRemove)
			}
			granted, err := svc.Granted(ctx, "u1", "third")
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(granted, "email") {
				t.Fatalf("round %d: the app is allowed %v after the withdrawal of email and an Allow of openid and profile", round, granted)
			}
		}
	})
}
