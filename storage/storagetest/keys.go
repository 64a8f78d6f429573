package storagetest

import (
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

var keyTests = []test{
	{"create, list round-trip and duplicate", func(t *testing.T, s storage.Store) {
		next := newKey("k2")
		next.CreatedAt = base().Add(time.Hour)
		active := newKey("k1")
		active.State, active.Alg, active.ActivatedAt = storage.KeyActive, "RS256", ptr(base().Add(time.Minute))
		retired := newKey("k0")
		retired.CreatedAt = base().Add(-time.Hour)
		retired.State = storage.KeyRetired
		retired.ActivatedAt, retired.RetiredAt, retired.DeleteAfter = ptr(base().Add(-time.Hour)), ptr(base()), ptr(base().Add(24*time.Hour))
		for _, k := range []*storage.SigningKey{next, active, retired} {
			must(t, s.CreateSigningKey(ctx(t), k))
		}
		got, err := s.ListSigningKeys(ctx(t))
		must(t, err)
		equal(t, "ListSigningKeys", got, []*storage.SigningKey{stored(retired), stored(active), stored(next)})
		wantErr(t, s.CreateSigningKey(ctx(t), newKey("k1")), storage.ErrConflict)
	}},
	{"update moves a key through its lifecycle", func(t *testing.T, s storage.Store) {
		k := newKey("k1")
		must(t, s.CreateSigningKey(ctx(t), k))
		act := base().Add(time.Hour)
		must(t, s.UpdateSigningKey(ctx(t), "k1", func(k *storage.SigningKey) error {
			k.ID = "hijack"
			k.State, k.ActivatedAt = storage.KeyActive, &act
			return nil
		}))
		got, err := s.ListSigningKeys(ctx(t))
		must(t, err)
		want := stored(k)
		want.State, want.ActivatedAt = storage.KeyActive, ptr(ms(act))
		equal(t, "after activation", got, []*storage.SigningKey{want})

		err = s.UpdateSigningKey(ctx(t), "k1", func(k *storage.SigningKey) error {
			k.State = storage.KeyRetired
			return errBoom
		})
		wantErr(t, err, errBoom)
		got, err = s.ListSigningKeys(ctx(t))
		must(t, err)
		equal(t, "after failed update", got, []*storage.SigningKey{want})
		wantErr(t, s.UpdateSigningKey(ctx(t), "nope", func(*storage.SigningKey) error { return nil }), storage.ErrNotFound)
	}},
	{"delete", func(t *testing.T, s storage.Store) {
		must(t, s.CreateSigningKey(ctx(t), newKey("k1")))
		must(t, s.CreateSigningKey(ctx(t), newKey("k2")))
		must(t, s.DeleteSigningKey(ctx(t), "k1"))
		got, err := s.ListSigningKeys(ctx(t))
		must(t, err)
		equal(t, "keys after delete", got, []*storage.SigningKey{stored(newKey("k2"))})
		wantErr(t, s.DeleteSigningKey(ctx(t), "k1"), storage.ErrNotFound)
	}},
}
