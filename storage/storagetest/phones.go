package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

func pendingPhone(userID, e164, hash string) *storage.PhoneVerification {
	return &storage.PhoneVerification{UserID: userID, E164: e164, CodeHash: hash, Sends: 1,
		CreatedAt: base(), LastSentAt: base(), ExpiresAt: base().Add(10 * time.Minute)}
}

// phoneTests: verified phone numbers and their verifications (issue 15).
var phoneTests = []test{
	{"verify, read, look up, remove", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		_, err := s.GetPhone(ctx(t), "u1")
		wantErr(t, err, storage.ErrNotFound)
		must(t, s.PutPhoneVerification(ctx(t), pendingPhone("u1", "+4930123456", "h1")))
		got, err := s.GetPhoneVerification(ctx(t), "u1")
		must(t, err)
		equal(t, "verification", got, stored(pendingPhone("u1", "+4930123456", "h1")))

		_, err = s.ConfirmPhone(ctx(t), "u1", "wrong", base().Add(time.Minute))
		wantErr(t, err, storage.ErrNotFound)
		p, err := s.ConfirmPhone(ctx(t), "u1", "h1", base().Add(time.Minute))
		must(t, err)
		equal(t, "confirmed", p.E164, "+4930123456")
		_, err = s.ConfirmPhone(ctx(t), "u1", "h1", base().Add(time.Minute))
		wantErr(t, err, storage.ErrNotFound) // single use
		p, err = s.GetPhone(ctx(t), "u1")
		must(t, err)
		equal(t, "stored phone", p, &storage.Phone{UserID: "u1", E164: "+4930123456", VerifiedAt: ms(base().Add(time.Minute))})
		id, err := s.UserByPhone(ctx(t), "+4930123456")
		must(t, err)
		equal(t, "owner", id, "u1")

		must(t, s.DeletePhone(ctx(t), "u1"))
		_, err = s.GetPhone(ctx(t), "u1")
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.UserByPhone(ctx(t), "+4930123456")
		wantErr(t, err, storage.ErrNotFound)
		must(t, s.DeletePhone(ctx(t), "u1"))
	}},
	{"an expired code confirms nothing", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.PutPhoneVerification(ctx(t), pendingPhone("u1", "+4930123456", "h1")))
		_, err := s.ConfirmPhone(ctx(t), "u1", "h1", base().Add(10*time.Minute))
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"a new verification replaces the old and changes the number", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.PutPhoneVerification(ctx(t), pendingPhone("u1", "+4930123456", "h1")))
		_, err := s.ConfirmPhone(ctx(t), "u1", "h1", base())
		must(t, err)
		v := pendingPhone("u1", "+4930999999", "h2")
		v.Sends = 2
		must(t, s.PutPhoneVerification(ctx(t), v))
		must(t, s.PutPhoneVerification(ctx(t), pendingPhone("u1", "+4930999999", "h3")))
		_, err = s.ConfirmPhone(ctx(t), "u1", "h2", base())
		wantErr(t, err, storage.ErrNotFound)
		p, err := s.ConfirmPhone(ctx(t), "u1", "h3", base())
		must(t, err)
		equal(t, "changed", p.E164, "+4930999999")
	}},
	{"a number verified by one account is a conflict for another", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateUser(ctx(t), newUser("u2")))
		must(t, s.PutPhoneVerification(ctx(t), pendingPhone("u1", "+4930123456", "h1")))
		must(t, s.PutPhoneVerification(ctx(t), pendingPhone("u2", "+4930123456", "h2")))
		_, err := s.ConfirmPhone(ctx(t), "u1", "h1", base())
		must(t, err)
		_, err = s.ConfirmPhone(ctx(t), "u2", "h2", base())
		wantErr(t, err, storage.ErrConflict)
	}},
	{"attempts stop at the limit, also in parallel", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		wantErr(t, s.CountPhoneAttempt(ctx(t), "u1", 5, base()), storage.ErrNotFound)
		must(t, s.PutPhoneVerification(ctx(t), pendingPhone("u1", "+4930123456", "h1")))
		errs := race(8, func(int) error { return s.CountPhoneAttempt(ctx(t), "u1", 5, base()) })
		ok, matched := countErrs(t, errs, storage.ErrNotFound)
		if ok != 5 || matched != 3 {
			t.Fatalf("got %d counted and %d refused, want 5 and 3", ok, matched)
		}
		v, err := s.GetPhoneVerification(ctx(t), "u1")
		must(t, err)
		equal(t, "attempts", v.Attempts, 5)
	}},
	{"DeleteExpired removes expired verifications only", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateUser(ctx(t), newUser("u2")))
		must(t, s.PutPhoneVerification(ctx(t), pendingPhone("u1", "+4930123456", "h1")))
		later := pendingPhone("u2", "+4930999999", "h2")
		later.ExpiresAt = base().Add(time.Hour)
		must(t, s.PutPhoneVerification(ctx(t), later))
		_, err := s.DeleteExpired(ctx(t), base().Add(10*time.Minute))
		must(t, err)
		_, err = s.GetPhoneVerification(ctx(t), "u1")
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetPhoneVerification(ctx(t), "u2")
		must(t, err)
	}},
	{"deleting the user deletes the number", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.PutPhoneVerification(ctx(t), pendingPhone("u1", "+4930123456", "h1")))
		_, err := s.ConfirmPhone(ctx(t), "u1", "h1", base())
		must(t, err)
		must(t, s.PutPhoneVerification(ctx(t), pendingPhone("u1", "+4930999999", "h2")))
		must(t, s.DeleteUser(ctx(t), "u1"))
		_, err = s.UserByPhone(ctx(t), "+4930123456")
		wantErr(t, err, storage.ErrNotFound)
		if _, err := s.GetPhoneVerification(ctx(t), "u1"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("verification after delete: %v", err)
		}
	}},
}
