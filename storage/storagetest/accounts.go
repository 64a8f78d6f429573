package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

var pendingUserTests = []test{
	{"list returns only pending users created before the cutoff, oldest first", func(t *testing.T, s storage.Store) {
		cutoff := base()
		var want []*storage.User
		for i, c := range []struct {
			id, status string
			age        time.Duration
		}{
			{"old-b", storage.UserPending, 2 * time.Hour},
			{"old-a", storage.UserPending, 3 * time.Hour},
			{"young", storage.UserPending, -time.Minute},
			{"at-cutoff", storage.UserPending, 0},
			{"active", storage.UserActive, 5 * time.Hour},
			{"locked", storage.UserLocked, 5 * time.Hour},
		} {
			u := newUser(c.id)
			u.Status, u.CreatedAt, u.ActivatedAt = c.status, cutoff.Add(-c.age), nil
			must(t, s.CreateUser(ctx(t), u))
			if i < 2 {
				want = append([]*storage.User{stored(u)}, want...)
			}
		}
		got, err := s.ListPendingUsers(ctx(t), cutoff)
		must(t, err)
		equal(t, "ListPendingUsers", got, want)
	}},
	{"delete removes only pending users, with what they own", func(t *testing.T, s storage.Store) {
		cutoff := base()
		old := newUser("old")
		old.Status, old.CreatedAt, old.ActivatedAt = storage.UserPending, cutoff.Add(-48*time.Hour), nil
		must(t, s.CreateUser(ctx(t), old))
		must(t, s.CreateOneTimeToken(ctx(t), newOneTimeToken("act-old", storage.TokenActivation, old.ID)))
		young := newUser("young")
		young.Status, young.CreatedAt = storage.UserPending, cutoff.Add(time.Hour)
		must(t, s.CreateUser(ctx(t), young))
		// Registered as long ago, but activated before the cleanup ran: it must survive.
		activated := newUser("activated")
		activated.Status, activated.CreatedAt = storage.UserPending, cutoff.Add(-48*time.Hour)
		must(t, s.CreateUser(ctx(t), activated))
		_, err := s.UpdateUser(ctx(t), activated.ID, func(u *storage.User) error {
			u.Status = storage.UserActive
			return nil
		})
		must(t, err)

		n, err := s.DeletePendingUsers(ctx(t), cutoff)
		must(t, err)
		equal(t, "deleted", n, int64(1))
		_, err = s.GetUser(ctx(t), old.ID)
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.ConsumeOneTimeToken(ctx(t), "act-old", storage.TokenActivation, cutoff)
		wantErr(t, err, storage.ErrNotFound)
		for _, id := range []string{young.ID, activated.ID} {
			_, err := s.GetUser(ctx(t), id)
			must(t, err)
		}
		n, err = s.DeletePendingUsers(ctx(t), cutoff)
		must(t, err)
		equal(t, "deleted by a second run", n, int64(0))
	}},
	{"new account fields update and clear", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		until := base().Add(time.Hour)
		_, err := s.UpdateUser(ctx(t), "u1", func(u *storage.User) error {
			u.ReminderSentAt, u.LockedUntil, u.LockoutCount, u.PreferredMFA = nil, &until, 4, storage.MFATOTP
			return nil
		})
		must(t, err)
		got, err := s.GetUser(ctx(t), "u1")
		must(t, err)
		equal(t, "ReminderSentAt", got.ReminderSentAt, (*time.Time)(nil))
		equal(t, "LockedUntil", got.LockedUntil, ptr(ms(until)))
		equal(t, "LockoutCount", got.LockoutCount, 4)
		equal(t, "PreferredMFA", got.PreferredMFA, storage.MFATOTP)
	}},
}

var oneTimeTokenTests = []test{
	{"consume returns the token once", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		tok := newOneTimeToken("h1", storage.TokenEmailChange, "u1")
		must(t, s.CreateOneTimeToken(ctx(t), tok))
		now := base().Add(time.Minute)
		got, err := s.ConsumeOneTimeToken(ctx(t), "h1", storage.TokenEmailChange, now)
		must(t, err)
		want := stored(tok)
		want.UsedAt = ptr(ms(now))
		equal(t, "consumed token", got, want)

		again, err := s.ConsumeOneTimeToken(ctx(t), "h1", storage.TokenEmailChange, now.Add(time.Second))
		wantErr(t, err, storage.ErrAlreadyUsed)
		equal(t, "token returned with ErrAlreadyUsed", again, want)
	}},
	{"unknown, wrong purpose and expired", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		tok := newOneTimeToken("h1", storage.TokenReset, "u1")
		must(t, s.CreateOneTimeToken(ctx(t), tok))
		_, err := s.ConsumeOneTimeToken(ctx(t), "nope", storage.TokenReset, base())
		wantErr(t, err, storage.ErrNotFound)
		// A reset link must never work as an activation link.
		got, err := s.ConsumeOneTimeToken(ctx(t), "h1", storage.TokenActivation, base())
		wantErr(t, err, storage.ErrNotFound)
		if got != nil {
			t.Fatalf("wrong-purpose consume returned %+v", got)
		}
		_, err = s.ConsumeOneTimeToken(ctx(t), "h1", storage.TokenReset, tok.ExpiresAt)
		wantErr(t, err, storage.ErrExpired)
		// Neither failure used it up.
		_, err = s.ConsumeOneTimeToken(ctx(t), "h1", storage.TokenReset, base())
		must(t, err)
	}},
	{"duplicate hash is ErrConflict and the user must exist", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateOneTimeToken(ctx(t), newOneTimeToken("h1", storage.TokenReset, "u1")))
		wantErr(t, s.CreateOneTimeToken(ctx(t), newOneTimeToken("h1", storage.TokenActivation, "u1")), storage.ErrConflict)
		if err := s.CreateOneTimeToken(ctx(t), newOneTimeToken("h2", storage.TokenReset, "ghost")); err == nil {
			t.Fatal("token for an unknown user was stored")
		}
	}},
	{"zero CreatedAt is filled", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		tok := newOneTimeToken("h1", storage.TokenEmailCode, "u1")
		tok.CreatedAt, tok.ExpiresAt = time.Time{}, time.Now().Add(time.Hour)
		must(t, s.CreateOneTimeToken(ctx(t), tok))
		if time.Since(tok.CreatedAt) > time.Minute {
			t.Fatalf("CreatedAt = %v, want about now", tok.CreatedAt)
		}
	}},
	{"delete by purpose or all, and by user deletion", func(t *testing.T, s storage.Store) {
		for _, u := range []string{"u1", "u2"} {
			must(t, s.CreateUser(ctx(t), newUser(u)))
			for _, p := range []string{storage.TokenReset, storage.TokenActivation, storage.TokenEmailCode} {
				must(t, s.CreateOneTimeToken(ctx(t), newOneTimeToken(u+p, p, u)))
			}
		}
		consumable := func(hash, purpose string) bool {
			_, err := s.ConsumeOneTimeToken(ctx(t), hash, purpose, base())
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("consume %s: %v", hash, err)
			}
			return err == nil
		}
		must(t, s.DeleteOneTimeTokens(ctx(t), "u1", storage.TokenReset))
		must(t, s.DeleteOneTimeTokens(ctx(t), "u1", storage.TokenReset)) // none left: not an error
		equal(t, "u1 reset", consumable("u1reset", storage.TokenReset), false)
		equal(t, "u1 activation", consumable("u1activation", storage.TokenActivation), true)
		must(t, s.DeleteOneTimeTokens(ctx(t), "u1", ""))
		equal(t, "u1 email code", consumable("u1email_code", storage.TokenEmailCode), false)
		equal(t, "u2 reset", consumable("u2reset", storage.TokenReset), true)
		must(t, s.DeleteUser(ctx(t), "u2"))
		equal(t, "u2 email code after DeleteUser", consumable("u2email_code", storage.TokenEmailCode), false)
	}},
}

var captchaTests = []test{
	{"released after its use, and only that use", func(t *testing.T, s storage.Store) {
		c := &storage.Captcha{ID: "c1", AnswerHash: "answer", CreatedAt: base(), ExpiresAt: base().Add(5 * time.Minute)}
		must(t, s.CreateCaptcha(ctx(t), c))
		must(t, s.ReleaseCaptcha(ctx(t), "c1", base())) // not used: nothing to give back
		used := base().Add(time.Minute)
		_, err := s.ConsumeCaptcha(ctx(t), "c1", used)
		must(t, err)
		must(t, s.ReleaseCaptcha(ctx(t), "c1", used.Add(time.Millisecond))) // another use's time
		_, err = s.ConsumeCaptcha(ctx(t), "c1", used)
		wantErr(t, err, storage.ErrAlreadyUsed)
		must(t, s.ReleaseCaptcha(ctx(t), "c1", used))
		again := used.Add(time.Second)
		got, err := s.ConsumeCaptcha(ctx(t), "c1", again)
		must(t, err)
		want := stored(c)
		want.UsedAt = ptr(ms(again))
		equal(t, "captcha used again after its release", got, want)
		must(t, s.ReleaseCaptcha(ctx(t), "nope", again))
	}},
	{"consume once, then ErrAlreadyUsed", func(t *testing.T, s storage.Store) {
		c := &storage.Captcha{ID: "c1", AnswerHash: "answer", CreatedAt: base(), ExpiresAt: base().Add(5 * time.Minute)}
		must(t, s.CreateCaptcha(ctx(t), c))
		now := base().Add(time.Minute)
		got, err := s.ConsumeCaptcha(ctx(t), "c1", now)
		must(t, err)
		want := stored(c)
		want.UsedAt = ptr(ms(now))
		equal(t, "consumed captcha", got, want)
		again, err := s.ConsumeCaptcha(ctx(t), "c1", now)
		wantErr(t, err, storage.ErrAlreadyUsed)
		equal(t, "captcha returned with ErrAlreadyUsed", again, want)
		wantErr(t, s.CreateCaptcha(ctx(t), c), storage.ErrConflict)
	}},
	{"unknown and expired", func(t *testing.T, s storage.Store) {
		c := &storage.Captcha{ID: "c1", AnswerHash: "answer", CreatedAt: base(), ExpiresAt: base().Add(5 * time.Minute)}
		must(t, s.CreateCaptcha(ctx(t), c))
		_, err := s.ConsumeCaptcha(ctx(t), "nope", base())
		wantErr(t, err, storage.ErrNotFound)
		got, err := s.ConsumeCaptcha(ctx(t), "c1", c.ExpiresAt)
		wantErr(t, err, storage.ErrExpired)
		if got != nil {
			t.Fatalf("expired consume returned %+v", got)
		}
	}},
}
