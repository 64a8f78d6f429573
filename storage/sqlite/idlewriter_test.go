package sqlite_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/sqlstore"
)

// TestReadOnIdleWriter: with ReadOnIdleWriter, a single-row read runs on the write
// connection when no transaction of the store holds it, and on the read pool when one does,
// so a transaction's goroutine reading through the store (not the transaction) never waits
// for itself. The write connection held behind the store's back (a raw transaction on
// SQLX(), as the seed command's pinned connection) shows where a read went: a read sent to
// it waits.
func TestReadOnIdleWriter(t *testing.T) {
	setup := func(t *testing.T, idle bool) *sqlstore.DB {
		db := openTemp(t)
		if idle {
			db.ReadOnIdleWriter()
		}
		if err := db.CreateUser(t.Context(), &storage.User{ID: "u1", Email: "a@example.com", EmailNormalized: "a@example.com", Status: storage.UserActive}); err != nil {
			t.Fatal(err)
		}
		return db
	}
	readWhileWriterHeld := func(t *testing.T, db *sqlstore.DB) error {
		raw, err := db.SQLX().BeginTxx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Rollback()
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		_, err = db.GetUser(ctx, "u1")
		return err
	}

	t.Run("without", func(t *testing.T) {
		if err := readWhileWriterHeld(t, setup(t, false)); err != nil {
			t.Fatalf("read on the read pool: %v", err)
		}
	})
	t.Run("idle writer", func(t *testing.T) {
		db := setup(t, true)
		if err := readWhileWriterHeld(t, db); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("read with the writer held outside the store: %v, want it to have waited for the writer", err)
		}
		if _, err := db.GetUser(t.Context(), "u1"); err != nil {
			t.Fatalf("read on the idle writer: %v", err)
		}
		// In a transaction of the store the writer is taken: the same goroutine's read
		// through the store goes to the read pool instead of waiting for its own connection.
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		err := db.InTx(ctx, func(tx storage.Store) error {
			if _, err := tx.UpdateUser(ctx, "u1", func(u *storage.User) error { u.Name = "Ada"; return nil }); err != nil {
				return err
			}
			u, err := db.GetUser(ctx, "u1")
			if err != nil {
				return err
			}
			if u.Name != "" {
				t.Errorf("read beside the transaction saw its uncommitted write")
			}
			return nil
		})
		if err != nil {
			t.Fatalf("read through the store inside its transaction: %v", err)
		}
		u, err := db.GetUser(t.Context(), "u1")
		if err != nil || u.Name != "Ada" {
			t.Fatalf("after the commit: %v, %+v", err, u)
		}
	})
}
