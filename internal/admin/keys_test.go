package admin_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
)

// TestKeys: admins list and rotate signing keys (the rotation audited with its reason and the
// new key ids); support and read-only actors may not rotate, support may not even list.
func TestKeys(t *testing.T) {
	svc, st := newService(t)
	mk, err := keys.ParseMasterKey(keys.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	km, err := keys.NewManager(st, mk, keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	k := &admin.Keys{Service: svc, Manager: km}
	ctx := t.Context()

	if _, err := k.List(ctx, supportPerson); !errors.Is(err, admin.ErrForbidden) {
		t.Fatalf("support lists keys: %v", err)
	}
	if _, err := k.Rotate(ctx, supportPerson, "because"); !errors.Is(err, admin.ErrForbidden) {
		t.Fatalf("support rotates keys: %v", err)
	}
	reader := admin.Actor{UserID: "r", SecondFactor: true, Roles: []string{storage.RoleAdmin}, Scopes: []string{admin.ScopeRead}}
	if _, err := k.Rotate(ctx, reader, "because"); !errors.Is(err, admin.ErrForbidden) {
		t.Fatalf("admin:read rotates keys: %v", err)
	}
	before, err := k.List(ctx, adminPerson)
	if err != nil || len(before) == 0 {
		t.Fatalf("list = %v, %v", before, err)
	}
	var ve *admin.ValidationError
	if _, err := k.Rotate(ctx, adminPerson, " "); !errors.As(err, &ve) {
		t.Fatalf("rotate without a reason: %v", err)
	}
	created, err := k.Rotate(ctx, adminPerson, "suspected leak")
	if err != nil || len(created) == 0 {
		t.Fatalf("rotate = %v, %v", created, err)
	}
	after, err := k.List(ctx, adminPerson)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range created {
		i := slices.IndexFunc(after, func(x admin.SigningKey) bool { return x.KID == c.KID })
		if i < 0 || after[i].State != storage.KeyActive {
			t.Fatalf("new key %s not active in %+v", c.KID, after)
		}
	}
	for _, b := range before {
		i := slices.IndexFunc(after, func(x admin.SigningKey) bool { return x.KID == b.KID })
		if b.State == storage.KeyActive && (i < 0 || after[i].State != storage.KeyRetired) {
			t.Fatalf("old active key %s not retired: %+v", b.KID, after)
		}
	}
	evs := events(t, st, storage.AuditQuery{Type: "admin.keys.rotate"})
	if len(evs) != 1 || evs[0].Actor != adminPerson.ID() || evs[0].Reason != "suspected leak" || evs[0].IP != adminPerson.IP {
		t.Fatalf("audit = %+v", evs)
	}
}
