package storagetest

import (
	"testing"

	"github.com/myaccount/myaccount/storage"
)

var txTests = []test{
	{"commit makes every write visible", func(t *testing.T, s storage.Store) {
		must(t, s.InTx(ctx(t), func(tx storage.Store) error {
			if err := tx.CreateUser(ctx(t), newUser("u1")); err != nil {
				return err
			}
			if _, err := tx.GetUser(ctx(t), "u1"); err != nil { // reads its own writes
				return err
			}
			return tx.CreateClient(ctx(t), newClient("c1"))
		}))
		_, err := s.GetUser(ctx(t), "u1")
		must(t, err)
		_, err = s.GetClient(ctx(t), "c1")
		must(t, err)
	}},
	{"error rolls back every write", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u0")))
		err := s.InTx(ctx(t), func(tx storage.Store) error {
			must(t, tx.CreateUser(ctx(t), newUser("u1")))
			_, err := tx.UpdateUser(ctx(t), "u0", func(u *storage.User) error { u.Name = "changed"; return nil })
			must(t, err)
			must(t, tx.DeleteUser(ctx(t), "u0"))
			return errBoom
		})
		wantErr(t, err, errBoom)
		_, err = s.GetUser(ctx(t), "u1")
		wantErr(t, err, storage.ErrNotFound)
		got, err := s.GetUser(ctx(t), "u0")
		must(t, err)
		equal(t, "u0 after rollback", got, stored(newUser("u0")))
	}},
	{"a store error inside rolls back when returned", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u0")))
		err := s.InTx(ctx(t), func(tx storage.Store) error {
			must(t, tx.CreateClient(ctx(t), newClient("c1")))
			return tx.CreateUser(ctx(t), newUser("u0")) // duplicate
		})
		wantErr(t, err, storage.ErrConflict)
		_, err = s.GetClient(ctx(t), "c1")
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"nested InTx joins the outer transaction", func(t *testing.T, s storage.Store) {
		err := s.InTx(ctx(t), func(tx storage.Store) error {
			must(t, tx.CreateUser(ctx(t), newUser("outer")))
			must(t, tx.InTx(ctx(t), func(inner storage.Store) error {
				return inner.CreateUser(ctx(t), newUser("inner"))
			}))
			return errBoom // undoes the inner transaction's write too
		})
		wantErr(t, err, errBoom)
		for _, id := range []string{"outer", "inner"} {
			_, err := s.GetUser(ctx(t), id)
			wantErr(t, err, storage.ErrNotFound)
		}

		err = s.InTx(ctx(t), func(tx storage.Store) error {
			must(t, tx.CreateUser(ctx(t), newUser("outer")))
			return tx.InTx(ctx(t), func(inner storage.Store) error {
				must(t, inner.CreateUser(ctx(t), newUser("inner")))
				return errBoom
			})
		})
		wantErr(t, err, errBoom)
		_, err = s.GetUser(ctx(t), "outer")
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"panic rolls back and the store stays usable", func(t *testing.T, s storage.Store) {
		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Fatalf("recovered %v, want the panic to propagate", r)
				}
			}()
			_ = s.InTx(ctx(t), func(tx storage.Store) error {
				must(t, tx.CreateUser(ctx(t), newUser("u1")))
				panic("boom")
			})
		}()
		_, err := s.GetUser(ctx(t), "u1")
		wantErr(t, err, storage.ErrNotFound)
		must(t, s.CreateUser(ctx(t), newUser("u2"))) // no lock left behind
	}},
	{"ping answers", func(t *testing.T, s storage.Store) {
		must(t, s.Ping(ctx(t)))
		must(t, s.InTx(ctx(t), func(tx storage.Store) error { return tx.Ping(ctx(t)) }))
	}},
}
