package admin_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/backendtest"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/sqlstore"
)

// TestRemoveFactorsIsSerialWithTheOwnersChanges races support's removal of every factor
// against the owner's own changes on PostgreSQL (several instances, READ COMMITTED) and on
// SQLite: the removal locks the person before it lists their factors (mfa.LockFactors), as
// the owner's changes do. Without it, a key the owner enrolled while support was removing
// the others was kept (the list was read before it) but lost the codes it came with (the
// removal of all voids them), and codes the owner regenerated meanwhile outlived the
// factors. After each round, codes exist exactly while a strong factor does.
func TestRemoveFactorsIsSerialWithTheOwnersChanges(t *testing.T) {
	backendtest.Each(t, func(t *testing.T, st *sqlstore.DB) {
		ctx := t.Context()
		// Each transaction counts the person's codes between reading or writing their
		// factors and writing codes; stalled there, a race that is not serial shows in
		// the first rounds instead of now and then.
		fs := faultstore.New(st)
		fs.Add(faultstore.Rule{Method: "CountRecoveryCodes", Delay: 5 * time.Millisecond})
		svc := &admin.Service{Store: fs, Accounts: &account.Service{Store: fs, BaseURL: "https://id.example"},
			Sessions: &sessions.Service{Store: fs}}
		now := time.Now().UTC()
		factors := &mfa.Service{Store: fs, Now: func() time.Time { return now }}
		u := addUser(t, st, "owner@example.com", storage.UserActive)
		rc, err := (&sessions.Service{Now: func() time.Time { return now }}).Recent(ctx, &storage.Session{UserID: u.ID, AuthTime: now})
		if err != nil {
			t.Fatal(err)
		}
		give := func(id string) {
			t.Helper()
			c := &storage.MFACredential{ID: id, UserID: u.ID, Kind: storage.MFAWebAuthn, Name: id, CredentialID: []byte(id), CreatedAt: now}
			if err := st.CreateMFACredential(ctx, c); err != nil {
				t.Fatal(err)
			}
			_, hashes := mfa.NewRecoveryCodes()
			if err := st.ReplaceRecoveryCodes(ctx, u.ID, hashes); err != nil {
				t.Fatal(err)
			}
		}
		check := func(round int) mfa.Enrolled {
			t.Helper()
			e, err := (&mfa.Service{Store: st}).Enrolled(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if e.Strong() != (e.RecoveryCodes > 0) {
				t.Fatalf("round %d: %d TOTP, %d WebAuthn and %d recovery codes: codes must exist exactly while a strong factor does", round, e.TOTP, e.WebAuthn, e.RecoveryCodes)
			}
			return e
		}
		removeAll := func() error {
			_, err := svc.RemoveFactors(ctx, supportPerson, u.ID, "", "lost everything")
			return err
		}
		const rounds = 40
		for round := range rounds {
			give(fmt.Sprint("old", round))
			var errRemove, errOwner error
			together(
				func() { errRemove = removeAll() },
				func() {
					if round%2 == 0 {
						key := &storage.MFACredential{ID: fmt.Sprint("new", round), UserID: u.ID, Kind: storage.MFAWebAuthn,
							Name: "key", CredentialID: fmt.Appendf(nil, "new-%d", round), CreatedAt: now}
						_, errOwner = factors.AddWebAuthn(ctx, rc, key, nil, nil)
					} else {
						_, errOwner = factors.RegenerateRecoveryCodes(ctx, rc, nil)
						if errors.Is(errOwner, mfa.ErrNoStrongFactor) { // after the removal
							errOwner = nil
						}
					}
				},
			)
			if errRemove != nil || errOwner != nil {
				t.Fatalf("round %d: remove: %v; owner: %v", round, errRemove, errOwner)
			}
			check(round)
			if err := removeAll(); err != nil { // the next round starts with nothing
				t.Fatal(err)
			}
		}
	})
}

// together runs a and b at once, each in its own goroutine, released by one barrier.
func together(a, b func()) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { <-start; a() })
	wg.Go(func() { <-start; b() })
	close(start)
	wg.Wait()
}
