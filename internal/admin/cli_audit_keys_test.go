package admin_test

import (
	"testing"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/sqlite"
)

// TestKeysRotateFaultRetries: a rotation whose audit event failed rotated nothing, and its
// retry rotates once, audited once (the CLI's `keys rotate` and the console's rotation are
// this call). Before, the keys were rotated and committed, then the event written: the error
// left a rotation done unaudited, and the retry rotated again.
func TestKeysRotateFaultRetries(t *testing.T) {
	ctx := t.Context()
	real, err := sqlite.Open(ctx, t.TempDir()+"/keys.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { real.Close() })
	fs := faultstore.New(real)
	mk, err := keys.ParseMasterKey(keys.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	km, err := keys.NewManager(fs, mk, keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	k := &admin.Keys{Service: &admin.Service{Store: fs}, Manager: km}
	before, err := real.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := fs.Add(faultstore.Rule{Method: "AddAuditEvent", Err: faultstore.ErrInjected, Times: 1})
	if _, err := k.Rotate(ctx, admin.CLI(), "suspected leak"); err == nil || fs.Applied(r) != 1 {
		t.Fatalf("rotate with a failing audit: %v (fault applied %d times)", err, fs.Applied(r))
	}
	after, err := real.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("the failed rotation left %d keys, had %d", len(after), len(before))
	}
	for i := range after {
		if after[i].State != before[i].State {
			t.Fatalf("the failed rotation changed key %s: %s, was %s", after[i].ID, after[i].State, before[i].State)
		}
	}
	created, err := k.Rotate(ctx, admin.CLI(), "suspected leak")
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	all, err := real.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(before)+len(created) {
		t.Errorf("%d keys after one failed rotation and its retry, want %d", len(all), len(before)+len(created))
	}
	evs := events(t, real, storage.AuditQuery{Type: "admin.keys.rotate"})
	if len(evs) != 1 || evs[0].Actor != "cli" || evs[0].Reason != "suspected leak" {
		t.Errorf("audit = %+v, want one rotation by cli", evs)
	}
}
