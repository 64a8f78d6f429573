package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

var sessionTests = []test{
	{"create and get round-trip every field", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		sess := newSession("s1", "u1")
		must(t, s.CreateSession(ctx(t), sess))
		got, err := s.GetSession(ctx(t), "s1")
		must(t, err)
		equal(t, "GetSession", got, stored(sess))
		got, err = s.GetSessionByTokenHash(ctx(t), "token-s1", base())
		must(t, err)
		equal(t, "GetSessionByTokenHash", got, stored(sess))
	}},
	{"create fills LastSeenAt and rejects duplicates", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		sess := newSession("s1", "u1")
		sess.LastSeenAt = time.Time{}
		must(t, s.CreateSession(ctx(t), sess))
		equal(t, "LastSeenAt", sess.LastSeenAt, sess.CreatedAt)
		sameHash := newSession("s2", "u1")
		sameHash.TokenHash = "token-s1"
		wantErr(t, s.CreateSession(ctx(t), sameHash), storage.ErrConflict)
		sameID := newSession("s1", "u1")
		sameID.TokenHash = "other"
		wantErr(t, s.CreateSession(ctx(t), sameID), storage.ErrConflict)
	}},
	{"only live sessions are found by token", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		sess := newSession("s1", "u1") // expires at base()+24h
		must(t, s.CreateSession(ctx(t), sess))
		_, err := s.GetSessionByTokenHash(ctx(t), "nope", base())
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetSessionByTokenHash(ctx(t), "token-s1", base().Add(24*time.Hour-time.Millisecond))
		must(t, err)
		_, err = s.GetSessionByTokenHash(ctx(t), "token-s1", base().Add(24*time.Hour))
		wantErr(t, err, storage.ErrNotFound)

		must(t, s.RevokeSession(ctx(t), "s1", base().Add(time.Minute)))
		_, err = s.GetSessionByTokenHash(ctx(t), "token-s1", base())
		wantErr(t, err, storage.ErrNotFound)
		got, err := s.GetSession(ctx(t), "s1")
		must(t, err)
		equal(t, "RevokedAt", got.RevokedAt, ptr(ms(base().Add(time.Minute))))
	}},
	{"revoke keeps the first time and unknown is ErrNotFound", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateSession(ctx(t), newSession("s1", "u1")))
		must(t, s.RevokeSession(ctx(t), "s1", base()))
		must(t, s.RevokeSession(ctx(t), "s1", base().Add(time.Hour)))
		got, err := s.GetSession(ctx(t), "s1")
		must(t, err)
		equal(t, "RevokedAt", got.RevokedAt, ptr(ms(base())))
		wantErr(t, s.RevokeSession(ctx(t), "nope", base()), storage.ErrNotFound)
		_, err = s.GetSession(ctx(t), "nope")
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"touch updates LastSeenAt only", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		sess := newSession("s1", "u1")
		must(t, s.CreateSession(ctx(t), sess))
		seen := base().Add(3 * time.Hour)
		must(t, s.TouchSession(ctx(t), "s1", seen))
		got, err := s.GetSession(ctx(t), "s1")
		must(t, err)
		want := stored(sess)
		want.LastSeenAt = ms(seen)
		equal(t, "touched session", got, want)
		wantErr(t, s.TouchSession(ctx(t), "nope", seen), storage.ErrNotFound)
	}},
	{"list and revoke all are per user", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateUser(ctx(t), newUser("u2")))
		a, b, other := newSession("a", "u1"), newSession("b", "u1"), newSession("other", "u2")
		b.LastSeenAt = base().Add(time.Hour)
		for _, x := range []*storage.Session{a, b, other} {
			must(t, s.CreateSession(ctx(t), x))
		}
		got, err := s.ListSessions(ctx(t), "u1")
		must(t, err)
		equal(t, "ListSessions", got, []*storage.Session{stored(b), stored(a)})
		none, err := s.ListSessions(ctx(t), "nobody")
		must(t, err)
		if len(none) != 0 {
			t.Fatalf("ListSessions(nobody) = %d sessions", len(none))
		}

		must(t, s.RevokeSession(ctx(t), "a", base()))
		must(t, s.RevokeUserSessions(ctx(t), "u1", base().Add(time.Minute)))
		got, err = s.ListSessions(ctx(t), "u1")
		must(t, err)
		for _, x := range got {
			want := ms(base().Add(time.Minute))
			if x.ID == "a" {
				want = ms(base()) // already revoked: keeps its time
			}
			equal(t, "RevokedAt of "+x.ID, x.RevokedAt, &want)
		}
		_, err = s.GetSessionByTokenHash(ctx(t), "token-other", base())
		must(t, err)
	}},
	{"expired sessions are listed until revoked, soonest first", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		for i, d := range []time.Duration{3 * time.Hour, time.Hour, 2 * time.Hour, 48 * time.Hour} {
			sess := newSession(fmt.Sprintf("s%d", i), "u1")
			sess.ExpiresAt = base().Add(d)
			must(t, s.CreateSession(ctx(t), sess))
		}
		must(t, s.RevokeSession(ctx(t), "s0", base()))
		ids := func(now time.Time, limit int) []string {
			got, err := s.ListExpiredSessions(ctx(t), now, limit)
			must(t, err)
			out := []string{}
			for _, g := range got {
				out = append(out, g.ID)
			}
			return out
		}
		equal(t, "none expired", ids(base(), 10), []string{})
		equal(t, "expired at 3h", ids(base().Add(3*time.Hour), 10), []string{"s1", "s2"})
		equal(t, "limit", ids(base().Add(3*time.Hour), 1), []string{"s1"})
		must(t, s.RevokeSession(ctx(t), "s1", base().Add(3*time.Hour)))
		equal(t, "after revoking", ids(base().Add(3*time.Hour), 10), []string{"s2"})
	}},
	{"idle sessions are listed until revoked, least recently seen first", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		for i, d := range []time.Duration{3 * time.Hour, time.Hour, 2 * time.Hour, 48 * time.Hour} {
			sess := newSession(fmt.Sprintf("s%d", i), "u1")
			sess.ExpiresAt = base().Add(30 * 24 * time.Hour)
			must(t, s.CreateSession(ctx(t), sess))
			must(t, s.TouchSession(ctx(t), sess.ID, base().Add(d)))
		}
		must(t, s.RevokeSession(ctx(t), "s1", base()))
		ids := func(seenBefore time.Time, limit int) []string {
			got, err := s.ListIdleSessions(ctx(t), seenBefore, limit)
			must(t, err)
			out := []string{}
			for _, g := range got {
				out = append(out, g.ID)
			}
			return out
		}
		equal(t, "none seen before", ids(base().Add(time.Hour), 10), []string{})
		equal(t, "seen by 3h", ids(base().Add(3*time.Hour), 10), []string{"s2", "s0"})
		equal(t, "limit", ids(base().Add(3*time.Hour), 1), []string{"s2"})
		must(t, s.RevokeSession(ctx(t), "s2", base().Add(3*time.Hour)))
		equal(t, "after revoking", ids(base().Add(3*time.Hour), 10), []string{"s0"})
	}},
}
