package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// licenceWorld is a product "av" with client c1, a user u1 and a 2-seat, 30-day licence l1
// (code hash h1) not yet redeemed.
func licenceWorld(t *testing.T, s storage.Store, seats int) {
	t.Helper()
	must(t, s.CreateUser(ctx(t), newUser("u1")))
	must(t, s.CreateUser(ctx(t), newUser("u2")))
	must(t, s.CreateClient(ctx(t), newClient("c1")))
	must(t, s.CreateClient(ctx(t), newClient("c2")))
	must(t, s.CreateProduct(ctx(t), &storage.Product{ID: "av", Name: "Antivirus", ClientIDs: []string{"c1"}}))
	must(t, s.CreateLicences(ctx(t), []*storage.Licence{{ID: "l1", ProductID: "av", CodeHash: "h1", Batch: "b1",
		Seats: seats, Days: 30, CreatedAt: base()}}))
}

// licenceTests: products, licences and seats (issue 14).
var licenceTests = []test{
	{"products keep their clients; a client is one product's", func(t *testing.T, s storage.Store) {
		licenceWorld(t, s, 2)
		p, err := s.GetProduct(ctx(t), "av")
		must(t, err)
		equal(t, "name", p.Name, "Antivirus")
		equal(t, "clients", fmt.Sprint(p.ClientIDs), "[c1]")
		p, err = s.ProductOfClient(ctx(t), "c1")
		must(t, err)
		equal(t, "product of c1", p.ID, "av")
		_, err = s.ProductOfClient(ctx(t), "c2")
		wantErr(t, err, storage.ErrNotFound)
		wantErr(t, s.CreateProduct(ctx(t), &storage.Product{ID: "av", Name: "Again"}), storage.ErrConflict)
		wantErr(t, s.CreateProduct(ctx(t), &storage.Product{ID: "vault", Name: "Vault", ClientIDs: []string{"c1"}}), storage.ErrConflict)
		wantErr(t, s.CreateProduct(ctx(t), &storage.Product{ID: "vault", Name: "Vault", ClientIDs: []string{"nope"}}), storage.ErrNotFound)
		// The failed creations rolled back entirely.
		ps, err := s.ListProducts(ctx(t))
		must(t, err)
		equal(t, "products", len(ps), 1)
		p, err = s.UpdateProduct(ctx(t), "av", func(p *storage.Product) error {
			p.Name = "Antivirus Pro"
			p.ClientIDs = append(p.ClientIDs, "c2")
			return nil
		})
		must(t, err)
		equal(t, "updated clients", fmt.Sprint(p.ClientIDs), "[c1 c2]")
		p, err = s.GetProduct(ctx(t), "av")
		must(t, err)
		equal(t, "stored name", p.Name, "Antivirus Pro")
		equal(t, "stored clients", fmt.Sprint(p.ClientIDs), "[c1 c2]")
		// A product with licences stays.
		wantErr(t, s.DeleteProduct(ctx(t), "av"), storage.ErrConflict)
		must(t, s.CreateProduct(ctx(t), &storage.Product{ID: "empty", Name: "Empty"}))
		must(t, s.DeleteProduct(ctx(t), "empty"))
		wantErr(t, s.DeleteProduct(ctx(t), "empty"), storage.ErrNotFound)
	}},
	{"redeem starts the term once; others see it taken", func(t *testing.T, s storage.Store) {
		licenceWorld(t, s, 2)
		now := base().Add(time.Hour)
		l, err := s.RedeemLicence(ctx(t), "h1", "u1", now)
		must(t, err)
		equal(t, "owner", l.UserID, "u1")
		equal(t, "expires", l.ExpiresAt.UnixMilli(), now.Add(30*24*time.Hour).UnixMilli())
		equal(t, "status", l.Status(now), storage.LicenceActive)
		equal(t, "status at expiry", l.Status(*l.ExpiresAt), storage.LicenceExpired)
		// Again by the owner: unchanged, no error.
		l2, err := s.RedeemLicence(ctx(t), "h1", "u1", now.Add(time.Hour))
		must(t, err)
		equal(t, "expires unchanged", l2.ExpiresAt.UnixMilli(), l.ExpiresAt.UnixMilli())
		_, err = s.RedeemLicence(ctx(t), "h1", "u2", now)
		wantErr(t, err, storage.ErrAlreadyUsed)
		_, err = s.RedeemLicence(ctx(t), "nope", "u2", now)
		wantErr(t, err, storage.ErrNotFound)
		ls, err := s.ListLicences(ctx(t), storage.LicenceQuery{UserID: "u1"})
		must(t, err)
		equal(t, "u1's licences", len(ls), 1)
		ls, err = s.ListLicences(ctx(t), storage.LicenceQuery{UserID: "u2"})
		must(t, err)
		equal(t, "u2's licences", len(ls), 0)
	}},
	{"a revoked licence cannot be redeemed; unlimited terms have no expiry", func(t *testing.T, s storage.Store) {
		licenceWorld(t, s, 1)
		must(t, s.CreateLicences(ctx(t), []*storage.Licence{{ID: "l2", ProductID: "av", CodeHash: "h2", Seats: 1}}))
		_, err := s.UpdateLicence(ctx(t), "l1", func(l *storage.Licence) error {
			now := base()
			l.RevokedAt = &now
			return nil
		})
		must(t, err)
		_, err = s.RedeemLicence(ctx(t), "h1", "u1", base())
		wantErr(t, err, storage.ErrRevoked)
		l, err := s.RedeemLicence(ctx(t), "h2", "u1", base())
		must(t, err)
		if l.ExpiresAt != nil {
			t.Errorf("unlimited licence expires at %v", l.ExpiresAt)
		}
	}},
	{"a deleted owner's licence stays, used up", func(t *testing.T, s storage.Store) {
		licenceWorld(t, s, 1)
		_, err := s.RedeemLicence(ctx(t), "h1", "u1", base())
		must(t, err)
		must(t, s.CreateGrant(ctx(t), newGrant("g1", "u1", "c1")))
		_, err = s.Activate(ctx(t), &storage.Activation{LicenceID: "l1", DeviceID: "d1", UserID: "u1", ClientID: "c1", GrantID: "g1"}, base())
		must(t, err)
		must(t, s.DeleteUser(ctx(t), "u1"))
		l, err := s.GetLicence(ctx(t), "l1")
		must(t, err)
		equal(t, "owner after deletion", l.UserID, "")
		acts, err := s.ListActivations(ctx(t), []string{"l1"})
		must(t, err)
		equal(t, "activations after deletion", len(acts), 0)
		// The code was spent: nobody else can redeem it.
		_, err = s.RedeemLicence(ctx(t), "h1", "u2", base())
		wantErr(t, err, storage.ErrAlreadyUsed)
	}},
	{"a batch is stored whole or not at all", func(t *testing.T, s storage.Store) {
		licenceWorld(t, s, 1)
		err := s.CreateLicences(ctx(t), []*storage.Licence{{ID: "n1", ProductID: "av", CodeHash: "x1", Seats: 1},
			{ID: "n2", ProductID: "av", CodeHash: "h1", Seats: 1}})
		wantErr(t, err, storage.ErrConflict)
		_, err = s.GetLicence(ctx(t), "n1")
		wantErr(t, err, storage.ErrNotFound)
		ls, err := s.ListLicences(ctx(t), storage.LicenceQuery{ProductID: "av", Batch: "b1"})
		must(t, err)
		equal(t, "batch b1", len(ls), 1)
	}},
	{"seats: one per device, full answers the holders, a signed-out device frees its seat", func(t *testing.T, s storage.Store) {
		licenceWorld(t, s, 1)
		_, err := s.RedeemLicence(ctx(t), "h1", "u1", base())
		must(t, err)
		g1, g2 := newGrant("g1", "u1", "c1"), newGrant("g2", "u1", "c1")
		must(t, s.CreateGrant(ctx(t), g1))
		must(t, s.CreateGrant(ctx(t), g2))
		a := &storage.Activation{LicenceID: "l1", DeviceID: "dev1", UserID: "u1", ClientID: "c1", GrantID: "g1", DeviceName: "Laptop"}
		_, err = s.Activate(ctx(t), a, base())
		must(t, err)
		equal(t, "seat", a.Seat, 1)
		holders, err := s.Activate(ctx(t), &storage.Activation{LicenceID: "l1", DeviceID: "dev2", UserID: "u1", ClientID: "c1", GrantID: "g2"}, base())
		wantErr(t, err, storage.ErrConflict)
		if len(holders) != 1 || holders[0].DeviceID != "dev1" || holders[0].DeviceName != "Laptop" {
			t.Fatalf("holders = %+v, want dev1", holders)
		}
		// The same device with a new grant keeps its seat.
		g3 := newGrant("g3", "u1", "c1")
		must(t, s.CreateGrant(ctx(t), g3))
		_, err = s.Activate(ctx(t), &storage.Activation{LicenceID: "l1", DeviceID: "dev1", UserID: "u1", ClientID: "c1", GrantID: "g3"}, base())
		must(t, err)
		acts, err := s.ListActivations(ctx(t), []string{"l1"})
		must(t, err)
		if len(acts) != 1 || acts[0].GrantID != "g3" {
			t.Fatalf("activations = %+v, want dev1 on g3", acts)
		}
		// Signing dev1 out frees the seat for dev2.
		must(t, s.RevokeGrant(ctx(t), "g3", base()))
		acts, err = s.ListActivations(ctx(t), []string{"l1"})
		must(t, err)
		equal(t, "live activations after sign-out", len(acts), 0)
		_, err = s.Activate(ctx(t), &storage.Activation{LicenceID: "l1", DeviceID: "dev2", UserID: "u1", ClientID: "c1", GrantID: "g2"}, base())
		must(t, err)
		must(t, s.DeleteActivation(ctx(t), "l1", "dev2"))
		wantErr(t, s.DeleteActivation(ctx(t), "l1", "dev2"), storage.ErrNotFound)
		// A released installation is not bound again automatically, only explicitly.
		_, err = s.Activate(ctx(t), &storage.Activation{LicenceID: "l1", DeviceID: "dev2", UserID: "u1", ClientID: "c1", GrantID: "g2", Automatic: true}, base())
		wantErr(t, err, storage.ErrRevoked)
		_, err = s.Activate(ctx(t), &storage.Activation{LicenceID: "l1", DeviceID: "dev2", UserID: "u1", ClientID: "c1", GrantID: "g2"}, base())
		must(t, err)
		// The explicit activation forgot the release: the device's next automatic one keeps it.
		_, err = s.Activate(ctx(t), &storage.Activation{LicenceID: "l1", DeviceID: "dev2", UserID: "u1", ClientID: "c1", GrantID: "g2", Automatic: true}, base())
		must(t, err)
		_, err = s.Activate(ctx(t), &storage.Activation{LicenceID: "nope", DeviceID: "dev2", UserID: "u1", ClientID: "c1", GrantID: "g2"}, base())
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"concurrent activations never exceed the seats", func(t *testing.T, s storage.Store) {
		licenceWorld(t, s, 3)
		_, err := s.RedeemLicence(ctx(t), "h1", "u1", base())
		must(t, err)
		const devices = 12
		for i := range devices {
			must(t, s.CreateGrant(ctx(t), newGrant(fmt.Sprintf("g%d", i), "u1", "c1")))
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var seats []int
		for i := range devices {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := &storage.Activation{LicenceID: "l1", DeviceID: fmt.Sprintf("dev%d", i), UserID: "u1", ClientID: "c1", GrantID: fmt.Sprintf("g%d", i)}
				_, err := s.Activate(ctx(t), a, base())
				switch {
				case err == nil:
					mu.Lock()
					seats = append(seats, a.Seat)
					mu.Unlock()
				case !errors.Is(err, storage.ErrConflict):
					t.Errorf("activate dev%d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		slices.Sort(seats)
		equal(t, "seats taken", fmt.Sprint(seats), "[1 2 3]")
		acts, err := s.ListActivations(ctx(t), []string{"l1"})
		must(t, err)
		equal(t, "stored activations", len(acts), 3)
	}},
	{"concurrent redemptions: one owner", func(t *testing.T, s storage.Store) {
		licenceWorld(t, s, 1)
		var wg sync.WaitGroup
		var mu sync.Mutex
		owners := map[string]int{}
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := []string{"u1", "u2"}[i%2]
				if _, err := s.RedeemLicence(ctx(t), "h1", u, base()); err == nil {
					mu.Lock()
					owners[u]++
					mu.Unlock()
				} else if !errors.Is(err, storage.ErrAlreadyUsed) {
					t.Errorf("redeem: %v", err)
				}
			}()
		}
		wg.Wait()
		if len(owners) != 1 {
			t.Fatalf("owners = %v, want exactly one", owners)
		}
	}},
	{"reminders are due once each", func(t *testing.T, s storage.Store) {
		licenceWorld(t, s, 1)
		_, err := s.RedeemLicence(ctx(t), "h1", "u1", base())
		must(t, err)
		// The term is 30 days from base().
		due, err := s.LicencesDue(ctx(t), base().Add(-time.Hour), 10)
		must(t, err)
		equal(t, "due 30 days + 1h before expiry", len(due), 0)
		due, err = s.LicencesDue(ctx(t), base(), 10)
		must(t, err)
		equal(t, "due 30 days before expiry", len(due), 1)
		ok, err := s.MarkLicenceReminder(ctx(t), "l1", storage.Reminder30Days, base())
		must(t, err)
		equal(t, "first mark", ok, true)
		ok, err = s.MarkLicenceReminder(ctx(t), "l1", storage.Reminder30Days, base())
		must(t, err)
		equal(t, "second mark", ok, false)
		due, err = s.LicencesDue(ctx(t), base().Add(20*24*time.Hour), 10)
		must(t, err)
		equal(t, "due between 30 and 7 days once the first is sent", len(due), 0)
		due, err = s.LicencesDue(ctx(t), base().Add(23*24*time.Hour), 10)
		must(t, err)
		equal(t, "due 7 days before expiry", len(due), 1)
		for _, k := range []string{storage.Reminder7Days, storage.ReminderExpiry} {
			ok, err := s.MarkLicenceReminder(ctx(t), "l1", k, base())
			must(t, err)
			equal(t, "mark "+k, ok, true)
		}
		due, err = s.LicencesDue(ctx(t), base().Add(31*24*time.Hour), 10)
		must(t, err)
		equal(t, "due after all reminders", len(due), 0)
		l, err := s.GetLicence(ctx(t), "l1")
		must(t, err)
		if l.Reminded30At == nil || l.Reminded7At == nil || l.ExpiryNotifiedAt == nil {
			t.Errorf("reminder times not stored: %+v", l)
		}
	}},
	{"device ids travel from the request to the grant", func(t *testing.T, s storage.Store) {
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		ar := newAuthRequest("ar1", "c1")
		ar.DeviceID = "install-1"
		must(t, s.CreateAuthRequest(ctx(t), ar))
		got, err := s.GetAuthRequest(ctx(t), "ar1")
		must(t, err)
		equal(t, "request device id", got.DeviceID, "install-1")
		g := newGrant("g1", "u1", "c1")
		g.DeviceID = "install-1"
		must(t, s.CreateGrant(ctx(t), g))
		gg, err := s.GetGrant(ctx(t), "g1")
		must(t, err)
		equal(t, "grant device id", gg.DeviceID, "install-1")
		dc := newDeviceCode("dch", "ABCDEFGH", "c1")
		dc.DeviceID = "install-2"
		must(t, s.CreateDeviceCode(ctx(t), dc))
		gd, err := s.GetDeviceCode(ctx(t), "dch")
		must(t, err)
		equal(t, "device code device id", gd.DeviceID, "install-2")
	}},
}
