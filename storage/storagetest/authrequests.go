package storagetest

import (
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

var authRequestTests = []test{
	{"create and get round-trip every field", func(t *testing.T, s storage.Store) {
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		ar := newAuthRequest("ar1", "c1")
		must(t, s.CreateAuthRequest(ctx(t), ar))
		got, err := s.GetAuthRequest(ctx(t), "ar1")
		must(t, err)
		equal(t, "GetAuthRequest", got, stored(ar))
		if got.Done || got.CodeUsedAt != nil || got.CodeHash != "" || !got.AuthTime.IsZero() {
			t.Fatalf("a new request reads back as done or with a code: %+v", got)
		}
	}},
	{"max_age nil and zero are distinct", func(t *testing.T, s storage.Store) {
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		absent, zero := newAuthRequest("absent", "c1"), newAuthRequest("zero", "c1")
		absent.MaxAge, zero.MaxAge = nil, ptr(int64(0))
		absent.Prompt, absent.UILocales, absent.ACRValues = nil, []string{}, nil
		must(t, s.CreateAuthRequest(ctx(t), absent))
		must(t, s.CreateAuthRequest(ctx(t), zero))
		got, err := s.GetAuthRequest(ctx(t), "absent")
		must(t, err)
		equal(t, "request without max_age", got, stored(absent))
		got, err = s.GetAuthRequest(ctx(t), "zero")
		must(t, err)
		equal(t, "MaxAge", got.MaxAge, ptr(int64(0)))
	}},
	{"duplicate id is ErrConflict", func(t *testing.T, s storage.Store) {
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		must(t, s.CreateAuthRequest(ctx(t), newAuthRequest("ar1", "c1")))
		wantErr(t, s.CreateAuthRequest(ctx(t), newAuthRequest("ar1", "c1")), storage.ErrConflict)
	}},
	{"unknown is ErrNotFound and expired is ErrExpired", func(t *testing.T, s storage.Store) {
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		_, err := s.GetAuthRequest(ctx(t), "nope")
		wantErr(t, err, storage.ErrNotFound)
		ar := newAuthRequest("old", "c1")
		ar.CreatedAt, ar.ExpiresAt = wallNow().Add(-time.Hour), wallNow().Add(-time.Second)
		must(t, s.CreateAuthRequest(ctx(t), ar))
		_, err = s.GetAuthRequest(ctx(t), "old")
		wantErr(t, err, storage.ErrExpired)
	}},
	{"complete records the sign-in once", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		ar := newAuthRequest("ar1", "c1")
		must(t, s.CreateAuthRequest(ctx(t), ar))
		authTime := base().Add(-time.Minute)
		must(t, s.CompleteAuthRequest(ctx(t), "ar1", "u1", "sess1", authTime, []string{"pwd", "hwk"}, "urn:mfa"))
		got, err := s.GetAuthRequest(ctx(t), "ar1")
		must(t, err)
		want := stored(ar)
		want.UserID, want.SessionID, want.AuthTime, want.AMR, want.ACR, want.Done =
			"u1", "sess1", ms(authTime), []string{"pwd", "hwk"}, "urn:mfa", true
		equal(t, "completed request", got, want)

		err = s.CompleteAuthRequest(ctx(t), "ar1", "u1", "sess2", base(), nil, "")
		wantErr(t, err, storage.ErrNotFound)
		got, err = s.GetAuthRequest(ctx(t), "ar1")
		must(t, err)
		equal(t, "SessionID after a second completion", got.SessionID, "sess1")
	}},
	{"complete of unknown or expired is ErrNotFound", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		wantErr(t, s.CompleteAuthRequest(ctx(t), "nope", "u1", "s", base(), nil, ""), storage.ErrNotFound)
		ar := newAuthRequest("old", "c1")
		ar.ExpiresAt = wallNow().Add(-time.Second)
		must(t, s.CreateAuthRequest(ctx(t), ar))
		wantErr(t, s.CompleteAuthRequest(ctx(t), "old", "u1", "s", base(), nil, ""), storage.ErrNotFound)
	}},
	{"rebind moves a browser's live requests without a code", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		mk := func(id, hash string) *storage.AuthRequest {
			ar := newAuthRequest(id, "c1")
			ar.BrowserHash = hash
			must(t, s.CreateAuthRequest(ctx(t), ar))
			return ar
		}
		mk("pending", "old")
		mk("done", "old")
		mk("coded", "old")
		mk("other", "other")
		expired := newAuthRequest("expired", "c1")
		expired.BrowserHash, expired.ExpiresAt = "old", wallNow().Add(-time.Second)
		must(t, s.CreateAuthRequest(ctx(t), expired))
		must(t, s.CompleteAuthRequest(ctx(t), "done", "u1", "s", base(), nil, ""))
		must(t, s.CompleteAuthRequest(ctx(t), "coded", "u1", "s", base(), nil, ""))
		must(t, s.SaveAuthCode(ctx(t), "coded", "code-hash", wallNow().Add(time.Minute)))
		n, err := s.RebindAuthRequests(ctx(t), "old", "new")
		must(t, err)
		equal(t, "moved", n, int64(2))
		for id, want := range map[string]string{"pending": "new", "done": "new", "coded": "old", "other": "other"} {
			got, err := s.GetAuthRequest(ctx(t), id)
			must(t, err)
			equal(t, "BrowserHash of "+id, got.BrowserHash, want)
		}
		n, err = s.RebindAuthRequests(ctx(t), "", "x")
		must(t, err)
		equal(t, "moved from an empty hash", n, int64(0))
	}},
	{"save code needs a done request without a code", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		must(t, s.CreateAuthRequest(ctx(t), newAuthRequest("ar1", "c1")))
		must(t, s.CreateAuthRequest(ctx(t), newAuthRequest("ar2", "c1")))
		wantErr(t, s.SaveAuthCode(ctx(t), "nope", "h", base()), storage.ErrNotFound)
		wantErr(t, s.SaveAuthCode(ctx(t), "ar1", "h1", base()), storage.ErrNotFound) // not done
		must(t, s.CompleteAuthRequest(ctx(t), "ar1", "u1", "s", base(), nil, ""))
		must(t, s.CompleteAuthRequest(ctx(t), "ar2", "u1", "s", base(), nil, ""))
		exp := base().Add(time.Minute)
		must(t, s.SaveAuthCode(ctx(t), "ar1", "h1", exp))
		got, err := s.GetAuthRequest(ctx(t), "ar1")
		must(t, err)
		equal(t, "CodeHash", got.CodeHash, "h1")
		equal(t, "CodeExpiresAt", got.CodeExpiresAt, ms(exp))
		equal(t, "CodeUsedAt", got.CodeUsedAt, (*time.Time)(nil))
		wantErr(t, s.SaveAuthCode(ctx(t), "ar1", "h2", exp), storage.ErrConflict) // one code per request
		wantErr(t, s.SaveAuthCode(ctx(t), "ar2", "h1", exp), storage.ErrConflict) // hash taken
		got, err = s.GetAuthRequest(ctx(t), "ar1")
		must(t, err)
		equal(t, "CodeHash after a second save", got.CodeHash, "h1")
	}},
	{"consume succeeds once then reports reuse with the request", func(t *testing.T, s storage.Store) {
		ar, u := completedWithCode(t, s, "ar1")
		now := base().Add(30 * time.Second)
		got, err := s.ConsumeAuthCode(ctx(t), "code-ar1", now)
		must(t, err)
		if got == nil || got.ID != ar.ID || got.UserID != u.ID || !got.Done {
			t.Fatalf("ConsumeAuthCode returned %+v", got)
		}
		equal(t, "CodeUsedAt", got.CodeUsedAt, ptr(ms(now)))
		equal(t, "Nonce", got.Nonce, ar.Nonce)
		equal(t, "CodeChallenge", got.CodeChallenge, ar.CodeChallenge)

		again, err := s.ConsumeAuthCode(ctx(t), "code-ar1", now.Add(time.Second))
		wantErr(t, err, storage.ErrAlreadyUsed)
		if again == nil || again.ID != ar.ID || again.UserID != u.ID {
			t.Fatalf("reuse returned request %+v, want the request so its tokens can be revoked", again)
		}
		equal(t, "CodeUsedAt after reuse", again.CodeUsedAt, ptr(ms(now)))
	}},
	{"reuse after expiry is still reuse", func(t *testing.T, s storage.Store) {
		completedWithCode(t, s, "ar1")
		_, err := s.ConsumeAuthCode(ctx(t), "code-ar1", base())
		must(t, err)
		got, err := s.ConsumeAuthCode(ctx(t), "code-ar1", base().Add(time.Hour))
		wantErr(t, err, storage.ErrAlreadyUsed)
		if got == nil {
			t.Fatal("reuse returned no request")
		}
	}},
	{"consume of expired or unknown code fails and does not mark it", func(t *testing.T, s storage.Store) {
		completedWithCode(t, s, "ar1") // code expires at base()+1m
		got, err := s.ConsumeAuthCode(ctx(t), "nope", base())
		wantErr(t, err, storage.ErrNotFound)
		if got != nil {
			t.Fatalf("unknown code returned %+v", got)
		}
		_, err = s.ConsumeAuthCode(ctx(t), "", base())
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.ConsumeAuthCode(ctx(t), "code-ar1", base().Add(time.Minute)) // exactly at expiry
		wantErr(t, err, storage.ErrExpired)
		_, err = s.ConsumeAuthCode(ctx(t), "code-ar1", base().Add(time.Hour))
		wantErr(t, err, storage.ErrExpired)
		ar, err := s.GetAuthRequest(ctx(t), "ar1")
		must(t, err)
		equal(t, "CodeUsedAt after failed consumes", ar.CodeUsedAt, (*time.Time)(nil))
	}},
	{"get by code finds the request whatever the code's state", func(t *testing.T, s storage.Store) {
		ar, u := completedWithCode(t, s, "ar1")
		got, err := s.GetAuthRequestByCode(ctx(t), "code-ar1")
		must(t, err)
		if got.ID != ar.ID || got.UserID != u.ID || got.CodeHash != "code-ar1" || got.CodeUsedAt != nil {
			t.Fatalf("GetAuthRequestByCode returned %+v", got)
		}
		equal(t, "CodeExpiresAt", got.CodeExpiresAt, ms(base().Add(time.Minute)))
		now := base().Add(time.Second)
		_, err = s.ConsumeAuthCode(ctx(t), "code-ar1", now)
		must(t, err)
		got, err = s.GetAuthRequestByCode(ctx(t), "code-ar1")
		must(t, err)
		equal(t, "CodeUsedAt after consume", got.CodeUsedAt, ptr(ms(now)))
		_, err = s.GetAuthRequestByCode(ctx(t), "nope")
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetAuthRequestByCode(ctx(t), "")
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"consume inside a rolled-back transaction leaves the code unused", func(t *testing.T, s storage.Store) {
		completedWithCode(t, s, "ar1")
		err := s.InTx(ctx(t), func(tx storage.Store) error {
			if _, err := tx.ConsumeAuthCode(ctx(t), "code-ar1", base()); err != nil {
				return err
			}
			return errBoom // e.g. storing the tokens failed
		})
		wantErr(t, err, errBoom)
		got, err := s.ConsumeAuthCode(ctx(t), "code-ar1", base().Add(time.Second))
		must(t, err)
		equal(t, "CodeUsedAt of the retry", got.CodeUsedAt, ptr(ms(base().Add(time.Second))))
	}},
	{"delete removes the request", func(t *testing.T, s storage.Store) {
		completedWithCode(t, s, "ar1")
		must(t, s.DeleteAuthRequest(ctx(t), "ar1"))
		_, err := s.GetAuthRequest(ctx(t), "ar1")
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.ConsumeAuthCode(ctx(t), "code-ar1", base())
		wantErr(t, err, storage.ErrNotFound)
		wantErr(t, s.DeleteAuthRequest(ctx(t), "ar1"), storage.ErrNotFound)
	}},
}
