package licence

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage/backendtest"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/postgres/pgtest"
	"github.com/myaccount/myaccount/storage/sqlstore"
)

// TestMain stops the PostgreSQL server a test started (pgtest starts one only when asked).
func TestMain(m *testing.M) { pgtest.Main(m) }

// TestReminderIsSerialWithAnExtension races the reminder run against an operator's
// extension of a licence 5 days from its end (its 7-day reminder due), on SQLite and on
// PostgreSQL. Either runs first: the reminder first is sent and the extension clears its
// mark (the new term gets its own), the extension first leaves 35 days, when no reminder is
// due. Either way a 7-day mark stands only on a licence that ends within 7 days. The run
// lists the licences due before its transactions: an extension committed in between left
// the reminder decided from the old term, marked sent with the old end mailed, and the new
// term's 7-day reminder never came.
func TestReminderIsSerialWithAnExtension(t *testing.T) {
	backendtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := newFixtureOn(t, db)
		ctx := context.Background()
		// The run's first write after its list is the mark: stalled, the extension
		// commits between the list and the mark.
		fs := faultstore.New(db)
		fs.Add(faultstore.Rule{Method: "MarkLicenceReminder", Delay: 5 * time.Millisecond})
		f.svc.Store = fs
		for round := range 30 {
			_, codes, err := f.svc.Issue(ctx, IssueRequest{ProductID: "antivirus", Seats: 1, Days: 5, Count: 1}, Meta{Actor: "cli"})
			must(t, err)
			// Redeemed in the store: Redeem's attempt limits would run out over the rounds.
			bare, _ := Normalize(codes[0].Code)
			_, err = db.RedeemLicence(ctx, HashCode(bare), "u1", f.clock.now())
			must(t, err)
			var errRemind, errExtend error
			start := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() { <-start; _, errRemind = f.svc.SendReminders(ctx) })
			wg.Go(func() {
				<-start
				_, errExtend = f.svc.Extend(ctx, codes[0].ID, 30, Meta{Actor: "cli", Reason: "goodwill"})
			})
			close(start)
			wg.Wait()
			if errRemind != nil || errExtend != nil {
				t.Fatalf("round %d: reminders: %v; extend: %v", round, errRemind, errExtend)
			}
			l, err := db.GetLicence(ctx, codes[0].ID)
			must(t, err)
			if left := l.ExpiresAt.Sub(f.clock.now()); l.Reminded7At != nil && left > 7*24*time.Hour {
				t.Fatalf("round %d: the 7-day reminder is marked sent on a licence with %v left", round, left)
			}
			// The next round's licence is the only one due: this one is no longer.
			_, err = f.svc.Revoke(ctx, codes[0].ID, Meta{Actor: "cli"})
			must(t, err)
		}
	})
}
