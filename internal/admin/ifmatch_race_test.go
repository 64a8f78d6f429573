package admin_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/backendtest"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/sqlstore"
)

// raceRounds is how many times each race runs: one round that interleaves badly is enough.
const raceRounds = 30

// raceStall holds the racing action open between its check of the ETag and its write.
const raceStall = 5 * time.Millisecond

// onBothStores runs fn on SQLite and on PostgreSQL, where several instances' transactions run
// at once under READ COMMITTED. fn gets the service (over a fault store that stalls what
// stall names) and the store beneath it, for the checks.
func onBothStores(t *testing.T, stall string, fn func(t *testing.T, svc *admin.Service, st storage.Store)) {
	backendtest.Each(t, func(t *testing.T, st *sqlstore.DB) {
		fs := faultstore.New(st)
		fs.Add(faultstore.Rule{Method: stall, Delay: raceStall})
		svc := &admin.Service{Store: fs, Accounts: &account.Service{Store: fs, BaseURL: "https://id.example"},
			Sessions: &sessions.Service{Store: fs}}
		fn(t, svc, st)
	})
}

// etagOf is the account's ETag as the admin API shows it.
func etagOf(t *testing.T, svc *admin.Service, id string) string {
	t.Helper()
	d, err := svc.GetUser(t.Context(), adminPerson, id)
	if err != nil {
		t.Fatal(err)
	}
	return d.ETag
}

// TestUnlockWithIfMatchIsSerialWithALock races an unlock sent with the account's ETag
// against a lock of the same account. Either runs first: an unlock first is undone by the
// lock, and a lock first changes the ETag, so the unlock is refused (412). The account ends
// locked either way. The unlock reads the account locked (admin.userIn); with a plain read,
// on PostgreSQL the lock committed between the unlock's check and its write, and the unlock
// (412 due) lifted it.
func TestUnlockWithIfMatchIsSerialWithALock(t *testing.T) {
	// The unlock resets the lockout's counters between its check and its write.
	onBothStores(t, "ResetCounter", func(t *testing.T, svc *admin.Service, st storage.Store) {
		ctx := t.Context()
		for round := range raceRounds {
			u := addUser(t, st, fmt.Sprintf("locked%d@example.com", round), storage.UserActive)
			etag := etagOf(t, svc, u.ID)
			var errUnlock, errLock error
			together(
				func() { _, errUnlock = svc.UnlockUser(ctx, supportPerson, u.ID, etag, "called us") },
				func() { _, errLock = svc.LockUser(ctx, adminPerson, u.ID, "", "fraud") },
			)
			if errLock != nil {
				t.Fatalf("round %d: lock: %v", round, errLock)
			}
			if errUnlock != nil && !errors.Is(errUnlock, admin.ErrPreconditionFailed) {
				t.Fatalf("round %d: unlock: %v, want success (before the lock) or ErrPreconditionFailed (after it)", round, errUnlock)
			}
			got, err := st.GetUser(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != storage.UserLocked {
				t.Fatalf("round %d: the account is %s after a lock and an unlock with the ETag from before the lock (unlock: %v), want locked",
					round, got.Status, errUnlock)
			}
		}
	})
}

// TestDeleteWithIfMatchIsSerialWithAChange races a deletion sent with the account's ETag
// against a change of the account (a lock): the deletion first leaves the lock nothing to
// lock (not found), the lock first changes the ETag and the deletion is refused (412). Both
// succeeding is the deletion of an account in a state its sender never saw, which is what
// If-Match is there to stop; with a plain read of the account, it happened on PostgreSQL.
func TestDeleteWithIfMatchIsSerialWithAChange(t *testing.T) {
	// The deletion lists the sessions it ends between its check and its delete.
	onBothStores(t, "ListSessions", func(t *testing.T, svc *admin.Service, st storage.Store) {
		ctx := t.Context()
		for round := range raceRounds {
			u := addUser(t, st, fmt.Sprintf("gone%d@example.com", round), storage.UserActive)
			etag := etagOf(t, svc, u.ID)
			var errDelete, errLock error
			together(
				func() { errDelete = svc.DeleteUser(ctx, adminPerson, u.ID, etag, "asked to") },
				func() { _, errLock = svc.LockUser(ctx, adminPerson, u.ID, "", "fraud") },
			)
			switch {
			case errDelete == nil && errLock == nil:
				t.Fatalf("round %d: the deletion with the ETag from before the lock and the lock both succeeded", round)
			case errDelete == nil && !errors.Is(errLock, admin.ErrNotFound):
				t.Fatalf("round %d: lock after the deletion: %v, want ErrNotFound", round, errLock)
			case errLock == nil && !errors.Is(errDelete, admin.ErrPreconditionFailed):
				t.Fatalf("round %d: deletion after the lock: %v, want ErrPreconditionFailed", round, errDelete)
			}
		}
	})
}

// TestDeleteClientWithIfMatchIsSerialWithAnUpdate is the same race for a client: a deletion
// sent with the client's ETag against an update. The deletion locks the client before it
// compares the ETag (storage.ClientStore.LockClient); with a plain read, on PostgreSQL the
// update committed between the check and the delete and both succeeded.
func TestDeleteClientWithIfMatchIsSerialWithAnUpdate(t *testing.T) {
	// The deletion's own delete is stalled: it is what follows the check.
	onBothStores(t, "DeleteClient", func(t *testing.T, svc *admin.Service, st storage.Store) {
		ctx := t.Context()
		for round := range raceRounds {
			c, _, err := svc.CreateClient(ctx, adminPerson, admin.ClientSpec{Name: fmt.Sprint("App ", round), Type: storage.ClientPublic,
				RedirectURIs: []string{"https://app.example/cb"}})
			if err != nil {
				t.Fatal(err)
			}
			name := "Renamed"
			var errDelete, errUpdate error
			together(
				func() { errDelete = svc.DeleteClient(ctx, adminPerson, c.ClientID, c.ETag) },
				func() {
					_, errUpdate = svc.UpdateClient(ctx, adminPerson, c.ClientID, "", admin.ClientPatch{Name: &name})
				},
			)
			switch {
			case errDelete == nil && errUpdate == nil:
				t.Fatalf("round %d: the deletion with the ETag from before the update and the update both succeeded", round)
			case errDelete == nil && !errors.Is(errUpdate, admin.ErrNotFound):
				t.Fatalf("round %d: update after the deletion: %v, want ErrNotFound", round, errUpdate)
			case errUpdate == nil && !errors.Is(errDelete, admin.ErrPreconditionFailed):
				t.Fatalf("round %d: deletion after the update: %v, want ErrPreconditionFailed", round, errDelete)
			}
		}
	})
}
