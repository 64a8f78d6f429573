package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

var userTests = []test{
	{"create and get round-trip every field", func(t *testing.T, s storage.Store) {
		u := newUser("u1")
		must(t, s.CreateUser(ctx(t), u))
		got, err := s.GetUser(ctx(t), "u1")
		must(t, err)
		equal(t, "GetUser", got, stored(u))
		if got.CreatedAt.Location() != time.UTC {
			t.Fatalf("CreatedAt location = %v, want UTC", got.CreatedAt.Location())
		}
		got, err = s.GetUserByEmail(ctx(t), "u1@example.com")
		must(t, err)
		equal(t, "GetUserByEmail", got, stored(u))
	}},
	{"nil pointer and false stay nil and false", func(t *testing.T, s storage.Store) {
		u := newUser("u1")
		u.ActivatedAt, u.EmailVerified, u.Status = nil, false, storage.UserPending
		must(t, s.CreateUser(ctx(t), u))
		got, err := s.GetUser(ctx(t), "u1")
		must(t, err)
		equal(t, "GetUser", got, stored(u))
	}},
	{"create fills zero timestamps", func(t *testing.T, s storage.Store) {
		u := newUser("u1")
		u.CreatedAt, u.UpdatedAt = time.Time{}, time.Time{}
		before := time.Now()
		must(t, s.CreateUser(ctx(t), u))
		after := time.Now()
		if u.CreatedAt.Before(before.Add(-time.Second)) || u.CreatedAt.After(after.Add(time.Second)) {
			t.Fatalf("CreatedAt = %v, want about now", u.CreatedAt)
		}
		if !u.UpdatedAt.Equal(u.CreatedAt) {
			t.Fatalf("UpdatedAt = %v, want CreatedAt %v", u.UpdatedAt, u.CreatedAt)
		}
		got, err := s.GetUser(ctx(t), "u1")
		must(t, err)
		equal(t, "GetUser", got, stored(u))
	}},
	{"unknown user is ErrNotFound", func(t *testing.T, s storage.Store) {
		_, err := s.GetUser(ctx(t), "nope")
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetUserByEmail(ctx(t), "nope@example.com")
		wantErr(t, err, storage.ErrNotFound)
		called := false
		_, err = s.UpdateUser(ctx(t), "nope", func(*storage.User) error { called = true; return nil })
		wantErr(t, err, storage.ErrNotFound)
		if called {
			t.Fatal("UpdateUser called fn for an unknown user")
		}
		wantErr(t, s.DeleteUser(ctx(t), "nope"), storage.ErrNotFound)
	}},
	{"duplicate id or email is ErrConflict", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		sameID := newUser("u2")
		sameID.ID = "u1"
		wantErr(t, s.CreateUser(ctx(t), sameID), storage.ErrConflict)
		sameEmail := newUser("u3")
		sameEmail.EmailNormalized = "u1@example.com"
		wantErr(t, s.CreateUser(ctx(t), sameEmail), storage.ErrConflict)
		users, err := s.ListUsers(ctx(t))
		must(t, err)
		equal(t, "users", users, []*storage.User{stored(newUser("u1"))})
	}},
	{"list is ordered by creation", func(t *testing.T, s storage.Store) {
		var want []*storage.User
		for i, id := range []string{"c", "a", "b"} {
			u := newUser(id)
			u.CreatedAt = base().Add(time.Duration(i) * time.Hour)
			must(t, s.CreateUser(ctx(t), u))
			want = append(want, stored(u))
		}
		got, err := s.ListUsers(ctx(t))
		must(t, err)
		equal(t, "ListUsers", got, want)
	}},
	{"empty list is empty", func(t *testing.T, s storage.Store) {
		got, err := s.ListUsers(ctx(t))
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("ListUsers on an empty store = %d users", len(got))
		}
	}},
	{"update stores fn's changes", func(t *testing.T, s storage.Store) {
		u := newUser("u1")
		u.ActivatedAt = nil
		must(t, s.CreateUser(ctx(t), u))
		activated := base().Add(time.Hour)
		got, err := s.UpdateUser(ctx(t), "u1", func(u *storage.User) error {
			u.ID = "hijack" // must be ignored
			u.Name, u.Status, u.EmailVerified = "Renamed", storage.UserLocked, false
			u.EmailNormalized = "new@example.com"
			u.ActivatedAt = &activated
			return nil
		})
		must(t, err)
		if got.ID != "u1" || got.Name != "Renamed" || got.Status != storage.UserLocked || got.EmailVerified {
			t.Fatalf("UpdateUser returned %+v", got)
		}
		if !got.UpdatedAt.After(u.UpdatedAt) {
			t.Fatalf("UpdatedAt = %v, want it bumped past %v", got.UpdatedAt, u.UpdatedAt)
		}
		read, err := s.GetUser(ctx(t), "u1")
		must(t, err)
		equal(t, "stored user", read, stored(got))
		equal(t, "ActivatedAt", read.ActivatedAt, ptr(ms(activated)))
		_, err = s.GetUser(ctx(t), "hijack")
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetUserByEmail(ctx(t), "new@example.com")
		must(t, err)
	}},
	{"update keeps an UpdatedAt set by fn and can clear pointers", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		at := base().Add(48 * time.Hour)
		_, err := s.UpdateUser(ctx(t), "u1", func(u *storage.User) error {
			u.UpdatedAt, u.ActivatedAt = at, nil
			return nil
		})
		must(t, err)
		got, err := s.GetUser(ctx(t), "u1")
		must(t, err)
		equal(t, "UpdatedAt", got.UpdatedAt, ms(at))
		equal(t, "ActivatedAt", got.ActivatedAt, (*time.Time)(nil))
	}},
	{"update fn error rolls back", func(t *testing.T, s storage.Store) {
		u := newUser("u1")
		must(t, s.CreateUser(ctx(t), u))
		_, err := s.UpdateUser(ctx(t), "u1", func(u *storage.User) error {
			u.Name = "changed"
			return errBoom
		})
		wantErr(t, err, errBoom)
		got, err := s.GetUser(ctx(t), "u1")
		must(t, err)
		equal(t, "user after failed update", got, stored(u))
	}},
	{"update to a taken email is ErrConflict", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateUser(ctx(t), newUser("u2")))
		_, err := s.UpdateUser(ctx(t), "u2", func(u *storage.User) error {
			u.EmailNormalized = "u1@example.com"
			return nil
		})
		wantErr(t, err, storage.ErrConflict)
		got, err := s.GetUser(ctx(t), "u2")
		must(t, err)
		equal(t, "EmailNormalized", got.EmailNormalized, "u2@example.com")
	}},
	{"delete cascades to everything the user owns", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		other := makeWorld(t, s, "2")
		sess := newSession("s1", w.user.ID)
		must(t, s.CreateSession(ctx(t), sess))
		must(t, s.SaveConsent(ctx(t), &storage.Consent{UserID: w.user.ID, ClientID: w.client.ID, Scopes: []string{"openid"}}))
		must(t, s.SaveConsent(ctx(t), &storage.Consent{UserID: other.user.ID, ClientID: w.client.ID, Scopes: []string{"openid"}}))
		ar := newAuthRequest("ar1", w.client.ID)
		must(t, s.CreateAuthRequest(ctx(t), ar))
		must(t, s.CompleteAuthRequest(ctx(t), ar.ID, w.user.ID, sess.ID, base(), nil, ""))
		standalone := &storage.AccessToken{IDHash: "standalone", ClientID: w.client.ID, Subject: w.user.ID,
			CreatedAt: base(), ExpiresAt: base().Add(time.Hour)}
		must(t, s.CreateAccessToken(ctx(t), standalone))

		must(t, s.DeleteUser(ctx(t), w.user.ID))

		_, err := s.GetUser(ctx(t), w.user.ID)
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetSession(ctx(t), sess.ID)
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetGrant(ctx(t), w.grant.ID)
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetRefreshToken(ctx(t), w.refresh.Hash)
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetAccessToken(ctx(t), w.access.IDHash)
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetAccessToken(ctx(t), standalone.IDHash)
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetConsent(ctx(t), w.user.ID, w.client.ID)
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetAuthRequest(ctx(t), ar.ID)
		wantErr(t, err, storage.ErrNotFound)

		// The client and the other user's data are untouched.
		_, err = s.GetClient(ctx(t), w.client.ID)
		must(t, err)
		_, err = s.GetUser(ctx(t), other.user.ID)
		must(t, err)
		_, err = s.GetRefreshToken(ctx(t), other.refresh.Hash)
		must(t, err)
		_, err = s.GetAccessToken(ctx(t), other.access.IDHash)
		must(t, err)
		_, err = s.GetConsent(ctx(t), other.user.ID, w.client.ID)
		must(t, err)
	}},
	{"lock of an unknown user is ErrNotFound", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		wantErr(t, s.LockUser(ctx(t), "nope"), storage.ErrNotFound)
		must(t, s.LockUser(ctx(t), "u1")) // outside a transaction: only that it exists
		err := s.InTx(ctx(t), func(tx storage.Store) error {
			must(t, tx.LockUser(ctx(t), "u1"))
			must(t, tx.LockUser(ctx(t), "u1")) // again in the same transaction: it holds it
			return tx.LockUser(ctx(t), "nope")
		})
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"a transaction that locks a user waits for the one holding the lock", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		seen := lockWaits(t, s, func(tx storage.Store) error { return tx.LockUser(ctx(t), "u1") },
			func(tx storage.Store) error {
				return tx.CreateMFACredential(ctx(t), newMFA("t1", "u1", storage.MFATOTP))
			},
			func(tx storage.Store) (string, error) {
				creds, err := tx.ListMFACredentials(ctx(t), "u1")
				if err != nil || len(creds) != 1 {
					return fmt.Sprint(len(creds), " credentials"), err
				}
				return creds[0].ID, nil
			})
		// What the first committed before releasing the lock is what the second decides from.
		if seen != "t1" {
			t.Fatalf("after the lock the second transaction read %s, want the first's t1", seen)
		}
	}},
}

// lockWaits runs two transactions that each take a row lock with lock: the first holds it a
// while and writes with write; the second, started once the first holds the lock, waits for
// it and then reads with read, whose answer it returns. It fails unless the second got the
// lock only after the first released it (committed).
func lockWaits(t *testing.T, s storage.Store, lock, write func(tx storage.Store) error,
	read func(tx storage.Store) (string, error)) string {
	t.Helper()
	locked := make(chan struct{})
	var (
		wg                 sync.WaitGroup
		errA, errB         error
		releasing, gotLock time.Time
		seen               string
	)
	wg.Go(func() {
		errA = s.InTx(ctx(t), func(tx storage.Store) error {
			err := lock(tx)
			close(locked)
			if err != nil {
				return err
			}
			time.Sleep(200 * time.Millisecond) // the other transaction is at its lock by now
			if err := write(tx); err != nil {
				return err
			}
			releasing = time.Now() // the commit follows
			return nil
		})
	})
	wg.Go(func() {
		<-locked
		errB = s.InTx(ctx(t), func(tx storage.Store) error {
			if err := lock(tx); err != nil {
				return err
			}
			gotLock = time.Now()
			var err error
			seen, err = read(tx)
			return err
		})
	})
	wg.Wait()
	must(t, errA)
	must(t, errB)
	if !gotLock.After(releasing) {
		t.Fatalf("the second transaction got the lock %v before the first released it", releasing.Sub(gotLock))
	}
	return seen
}
