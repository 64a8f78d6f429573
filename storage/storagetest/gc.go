package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

var gcTests = []test{
	{"a row renewed while the sweep waits for it is kept", func(t *testing.T, s storage.Store) {
		now := base()
		// Rows due for the sweep, each renewed by another instance in a transaction that
		// commits only once the sweep has chosen the row and waits for it (PostgreSQL: the
		// row's lock; SQLite: the write lock). One at a time: the sweep must be waiting at
		// that row's own statement.
		for _, r := range []struct {
			name  string
			dead  func() error // makes the row, due for the sweep
			renew func(tx storage.Store) error
			check func() error // the renewed row is there
		}{
			{"a lease taken over",
				func() error {
					_, err := s.AcquireLease(ctx(t), "job", "dead", time.Minute, now.Add(-time.Hour))
					return err
				},
				func(tx storage.Store) error {
					if ok, err := tx.AcquireLease(ctx(t), "job", "live", time.Hour, now); err != nil || !ok {
						return fmt.Errorf("take the lease over: %v %v", ok, err)
					}
					return nil
				},
				func() error {
					if ok, err := s.AcquireLease(ctx(t), "job", "other", time.Minute, now); err != nil || ok {
						return fmt.Errorf("a third instance took the lease held until now+1h: %v %v", ok, err)
					}
					return nil
				}},
			// A window that started over a week ago (CounterRetention), restarted.
			{"a counter's window restarted",
				func() error { _, err := s.HitCounter(ctx(t), "k", time.Hour, now.Add(-8*24*time.Hour)); return err },
				func(tx storage.Store) error { _, err := tx.HitCounter(ctx(t), "k", time.Hour, now); return err },
				func() error {
					if n, start, err := s.GetCounter(ctx(t), "k"); err != nil || n != 1 || start.UnixMilli() != now.UnixMilli() {
						return fmt.Errorf("restarted counter: %d %v %v", n, start, err)
					}
					return nil
				}},
		} {
			must(t, r.dead())
			renewed, commit, txErr := make(chan struct{}), make(chan struct{}), make(chan error, 1)
			var once sync.Once
			go func() {
				txErr <- s.InTx(ctx(t), func(tx storage.Store) error {
					if err := r.renew(tx); err != nil {
						return err
					}
					once.Do(func() { close(renewed) })
					<-commit
					return nil
				})
			}()
			select {
			case <-renewed:
			case err := <-txErr:
				t.Fatalf("%s: %v", r.name, err)
			}
			swept := make(chan error, 1)
			go func() { _, err := s.DeleteExpired(ctx(t), now); swept <- err }()
			time.Sleep(500 * time.Millisecond)
			close(commit)
			must(t, <-txErr)
			must(t, <-swept)
			if err := r.check(); err != nil {
				t.Errorf("%s while the sweep waited: %v", r.name, err)
			}
		}
	}},
	{"removes exactly what is dead", func(t *testing.T, s storage.Store) {
		now := base()
		w := makeWorld(t, s, "1") // live grant with a live refresh and access token
		u, c := w.user.ID, w.client.ID

		// Auth requests are kept for a day after expiry so code reuse is still detected.
		arOld, arRecent, arLive := newAuthRequest("old", c), newAuthRequest("recent", c), newAuthRequest("live", c)
		arOld.ExpiresAt = now.Add(-25 * time.Hour)
		arRecent.ExpiresAt = now.Add(-23 * time.Hour)
		arLive.ExpiresAt = now.Add(time.Hour)
		for _, ar := range []*storage.AuthRequest{arOld, arRecent, arLive} {
			ar.CreatedAt = ar.ExpiresAt.Add(-time.Hour)
			must(t, s.CreateAuthRequest(ctx(t), ar))
		}

		// A session goes once revoked (housekeeping revokes an expired one after telling its
		// clients); one expired but never revoked may not have been told yet and is kept
		// unless it expired over a week ago (sqlstore.UntoldSessionRetention).
		sExpired, sRevoked, sLive := newSession("expired", u), newSession("revoked", u), newSession("live", u)
		sUntold, sAbandoned := newSession("untold", u), newSession("abandoned", u)
		sExpired.ExpiresAt = now.Add(-time.Minute)
		sExpired.RevokedAt = ptr(now.Add(-time.Second))
		sRevoked.RevokedAt = ptr(now.Add(-time.Minute))
		sUntold.ExpiresAt = now.Add(-6 * 24 * time.Hour)
		sAbandoned.ExpiresAt = now.Add(-8 * 24 * time.Hour)
		for _, x := range []*storage.Session{sExpired, sRevoked, sLive, sUntold, sAbandoned} {
			must(t, s.CreateSession(ctx(t), x))
		}

		// In the live grant: one expired refresh and access token besides the live ones.
		rtExpired, atExpired := newRefresh("rt-expired", w.grant), newAccess("at-expired", w.grant)
		rtExpired.ExpiresAt, atExpired.ExpiresAt = now, now.Add(-time.Second)
		must(t, s.CreateRefreshToken(ctx(t), rtExpired))
		must(t, s.CreateAccessToken(ctx(t), atExpired))

		// A revoked grant whose tokens have all expired goes, tokens first.
		gDead := newGrant("dead", u, c)
		must(t, s.CreateGrant(ctx(t), gDead))
		rtDead, atDead := newRefresh("rt-dead", gDead), newAccess("at-dead", gDead)
		rtDead.ExpiresAt, atDead.ExpiresAt = now.Add(-time.Hour), now.Add(-time.Hour)
		must(t, s.CreateRefreshToken(ctx(t), rtDead))
		must(t, s.CreateAccessToken(ctx(t), atDead))
		must(t, s.RevokeGrant(ctx(t), gDead.ID, now.Add(-2*time.Hour)))

		// A revoked grant with a token not yet expired stays, and so does that token: it must
		// still answer "revoked", not "unknown".
		gRevoked := newGrant("revoked", u, c)
		must(t, s.CreateGrant(ctx(t), gRevoked))
		rtRevoked := newRefresh("rt-revoked", gRevoked)
		must(t, s.CreateRefreshToken(ctx(t), rtRevoked))
		must(t, s.RevokeGrant(ctx(t), gRevoked.ID, now.Add(-time.Hour)))

		// A grant that is not revoked stays even without tokens.
		gEmpty := newGrant("empty", u, c)
		must(t, s.CreateGrant(ctx(t), gEmpty))

		standalone := &storage.AccessToken{IDHash: "standalone", ClientID: c, Subject: u, CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute)}
		must(t, s.CreateAccessToken(ctx(t), standalone))

		n, err := s.DeleteExpired(ctx(t), now)
		must(t, err)
		// arOld, sExpired, sRevoked, sAbandoned, rtExpired, rtDead, atExpired, atDead,
		// standalone, gDead
		equal(t, "rows removed", n, int64(10))

		gone := map[string]error{}
		_, gone["auth request old"] = s.GetAuthRequest(ctx(t), arOld.ID)
		_, gone["session expired"] = s.GetSession(ctx(t), sExpired.ID)
		_, gone["session revoked"] = s.GetSession(ctx(t), sRevoked.ID)
		_, gone["session expired long ago, never revoked"] = s.GetSession(ctx(t), sAbandoned.ID)
		_, gone["refresh expired"] = s.GetRefreshToken(ctx(t), rtExpired.Hash)
		_, gone["refresh dead"] = s.GetRefreshToken(ctx(t), rtDead.Hash)
		_, gone["access expired"] = s.GetAccessToken(ctx(t), atExpired.IDHash)
		_, gone["access dead"] = s.GetAccessToken(ctx(t), atDead.IDHash)
		_, gone["access standalone"] = s.GetAccessToken(ctx(t), standalone.IDHash)
		_, gone["grant dead"] = s.GetGrant(ctx(t), gDead.ID)
		for what, err := range gone {
			if !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("%s: got %v after DeleteExpired, want ErrNotFound", what, err)
			}
		}

		kept := map[string]error{}
		_, kept["session live"] = s.GetSession(ctx(t), sLive.ID)
		_, kept["session expired, not yet revoked"] = s.GetSession(ctx(t), sUntold.ID)
		_, kept["refresh live"] = s.GetRefreshToken(ctx(t), w.refresh.Hash)
		_, kept["refresh in revoked grant"] = s.GetRefreshToken(ctx(t), rtRevoked.Hash)
		_, kept["access live"] = s.GetAccessToken(ctx(t), w.access.IDHash)
		_, kept["grant live"] = s.GetGrant(ctx(t), w.grant.ID)
		_, kept["grant revoked with tokens"] = s.GetGrant(ctx(t), gRevoked.ID)
		_, kept["grant without tokens"] = s.GetGrant(ctx(t), gEmpty.ID)
		_, kept["user"] = s.GetUser(ctx(t), u)
		for what, err := range kept {
			if err != nil {
				t.Errorf("%s: %v after DeleteExpired", what, err)
			}
		}
		// The other requests are kept. By the wall clock both are expired (base() is in the
		// past), so GetAuthRequest answers ErrExpired rather than ErrNotFound.
		for _, ar := range []*storage.AuthRequest{arRecent, arLive} {
			_, err = s.GetAuthRequest(ctx(t), ar.ID)
			wantErr(t, err, storage.ErrExpired)
		}

		n, err = s.DeleteExpired(ctx(t), now)
		must(t, err)
		equal(t, "rows removed by a second run", n, int64(0))
	}},
	{"tokenless grants go once a newer live grant supersedes them", func(t *testing.T, s storage.Store) {
		now := base()
		u, c := "u1", "client1"
		must(t, s.CreateUser(ctx(t), newUser(u)))
		must(t, s.CreateClient(ctx(t), newClient(c)))
		other := newClient("client2")
		must(t, s.CreateClient(ctx(t), other))
		at := func(id, client string, age time.Duration) *storage.Grant {
			g := newGrant(id, u, client)
			g.CreatedAt, g.LastUsedAt = now.Add(-age), now.Add(-age)
			must(t, s.CreateGrant(ctx(t), g))
			return g
		}
		// Three sign-ins through client 1 over time, each a grant whose tokens expired.
		oldest, older, newest := at("g-oldest", c, 72*time.Hour), at("g-older", c, 48*time.Hour), at("g-newest", c, 24*time.Hour)
		for _, g := range []*storage.Grant{oldest, older, newest} {
			at := newAccess("at-"+g.ID, g)
			at.ExpiresAt = now.Add(-time.Hour)
			must(t, s.CreateAccessToken(ctx(t), at))
		}
		// An old grant that still holds a live refresh token stays.
		withToken := at("g-with-token", c, 96*time.Hour)
		must(t, s.CreateRefreshToken(ctx(t), newRefresh("rt-with-token", withToken)))
		// The only grant for client 2, tokenless, stays: it lists the app.
		alone := at("g-alone", other.ID, 96*time.Hour)
		// A tokenless grant whose only newer one is revoked stays.
		c3 := newClient("client3")
		must(t, s.CreateClient(ctx(t), c3))
		kept3 := at("g-c3-old", c3.ID, 72*time.Hour)
		rev3 := at("g-c3-new", c3.ID, 24*time.Hour)
		must(t, s.RevokeGrant(ctx(t), rev3.ID, now.Add(time.Hour))) // revoked later than now: not collected yet

		n, err := s.DeleteExpired(ctx(t), now)
		must(t, err)
		// 3 expired access tokens, g-oldest and g-older
		equal(t, "rows removed", n, int64(5))
		for _, id := range []string{oldest.ID, older.ID} {
			_, err := s.GetGrant(ctx(t), id)
			wantErr(t, err, storage.ErrNotFound)
		}
		for _, id := range []string{newest.ID, withToken.ID, alone.ID, kept3.ID, rev3.ID} {
			if _, err := s.GetGrant(ctx(t), id); err != nil {
				t.Errorf("grant %s: %v after DeleteExpired", id, err)
			}
		}
	}},
	{"a grant stays while a row-less access token of it can be live", func(t *testing.T, s storage.Store) {
		now := base()
		u, c := "u1", "client1"
		must(t, s.CreateUser(ctx(t), newUser(u)))
		must(t, s.CreateClient(ctx(t), newClient(c)))
		at := func(id string, age, accessLeft time.Duration) *storage.Grant {
			g := newGrant(id, u, c)
			g.CreatedAt, g.LastUsedAt, g.AccessExpiresAt = now.Add(-age), now.Add(-age), now.Add(accessLeft)
			must(t, s.CreateGrant(ctx(t), g))
			return g
		}
		// Superseded by g-newest, tokenless but for a row-less access token: one still live,
		// one expired. Revoked ones alike.
		superLive, superDead := at("g-super-live", 72*time.Hour, time.Minute), at("g-super-dead", 48*time.Hour, 0)
		revLive, revDead := at("g-rev-live", 72*time.Hour, time.Minute), at("g-rev-dead", 48*time.Hour, -time.Second)
		newest := at("g-newest", time.Hour, time.Hour)
		must(t, s.RevokeGrant(ctx(t), revLive.ID, now.Add(-time.Hour)))
		must(t, s.RevokeGrant(ctx(t), revDead.ID, now.Add(-time.Hour)))
		g, err := s.GetGrant(ctx(t), superLive.ID)
		must(t, err)
		equal(t, "access_expires_at read back", g.AccessExpiresAt.UnixMilli(), now.Add(time.Minute).UnixMilli())

		n, err := s.DeleteExpired(ctx(t), now)
		must(t, err)
		equal(t, "rows removed", n, int64(2))
		for _, id := range []string{superDead.ID, revDead.ID} {
			_, err := s.GetGrant(ctx(t), id)
			wantErr(t, err, storage.ErrNotFound)
		}
		for _, id := range []string{superLive.ID, revLive.ID, newest.ID} {
			if _, err := s.GetGrant(ctx(t), id); err != nil {
				t.Errorf("grant %s: %v after DeleteExpired", id, err)
			}
		}
		// Once those tokens expired, the grants go.
		n, err = s.DeleteExpired(ctx(t), now.Add(time.Minute))
		must(t, err)
		equal(t, "rows removed once expired", n, int64(2))
	}},
	{"a rotation records its row-less access token's expiry on the grant, never earlier", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		t1 := base().Add(time.Minute)
		next := newRefresh("rt-next", w.grant)
		next.GrantAccessExpiresAt = t1.Add(time.Hour)
		must(t, s.RotateRefreshToken(ctx(t), w.refresh.Hash, next, t1, storage.RefreshGrace{}))
		g, err := s.GetGrant(ctx(t), w.grant.ID)
		must(t, err)
		equal(t, "access expiry", g.AccessExpiresAt.UnixMilli(), t1.Add(time.Hour).UnixMilli())
		// A later rotation with a shorter-lived token (a lowered TTL) keeps the later expiry,
		// and one that issues no row-less token changes nothing.
		next2 := newRefresh("rt-next2", w.grant)
		next2.GrantAccessExpiresAt = t1.Add(time.Minute)
		must(t, s.RotateRefreshToken(ctx(t), next.Hash, next2, t1.Add(time.Second), storage.RefreshGrace{}))
		next3 := newRefresh("rt-next3", w.grant)
		must(t, s.RotateRefreshToken(ctx(t), next2.Hash, next3, t1.Add(2*time.Second), storage.RefreshGrace{}))
		g, err = s.GetGrant(ctx(t), w.grant.ID)
		must(t, err)
		equal(t, "access expiry kept", g.AccessExpiresAt.UnixMilli(), t1.Add(time.Hour).UnixMilli())
	}},
	{"a backlog larger than one statement's batch is removed whole, and none when no time is left", func(t *testing.T, s storage.Store) {
		// Housekeeping deletes in bounded batches (1,000 rows per statement in sqlstore);
		// 2,345 of each kind spans three batches, the last one partial.
		const backlog = 2345
		now := base()
		u, c := "u-backlog", "c-backlog"
		must(t, s.CreateUser(ctx(t), newUser(u)))
		must(t, s.CreateClient(ctx(t), newClient(c)))
		must(t, s.InTx(ctx(t), func(tx storage.Store) error {
			for i := range backlog {
				at := &storage.AccessToken{IDHash: fmt.Sprintf("jti-backlog-%05d", i), ClientID: c,
					CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute)}
				if err := tx.CreateAccessToken(ctx(t), at); err != nil {
					return err
				}
				// Tokenless grants of one user and client, each newer than the last: all but
				// the newest are superseded.
				g := newGrant(fmt.Sprintf("g-backlog-%05d", i), u, c)
				g.CreatedAt = now.Add(-time.Duration(backlog-i) * time.Minute)
				g.LastUsedAt = g.CreatedAt
				if err := tx.CreateGrant(ctx(t), g); err != nil {
					return err
				}
			}
			return nil
		}))
		live := newAccess("backlog-live", newGrant(fmt.Sprintf("g-backlog-%05d", backlog-1), u, c))
		must(t, s.CreateAccessToken(ctx(t), live))

		// A call whose deadline has passed starts no batch: it removes nothing and is no failure,
		// so a later call with time left does the work.
		spent, cancel := context.WithDeadline(context.WithoutCancel(ctx(t)), time.Now().Add(-time.Second))
		defer cancel()
		n, err := s.DeleteExpired(spent, now)
		must(t, err)
		equal(t, "rows removed without time", n, int64(0))

		n, err = s.DeleteExpired(ctx(t), now)
		must(t, err)
		equal(t, "rows removed", n, int64(backlog+backlog-1))
		_, err = s.GetAccessToken(ctx(t), live.IDHash)
		must(t, err)
		_, err = s.GetGrant(ctx(t), fmt.Sprintf("g-backlog-%05d", backlog-1))
		must(t, err)
		for _, i := range []int{0, 999, 1000, 2000, backlog - 2} {
			_, err := s.GetGrant(ctx(t), fmt.Sprintf("g-backlog-%05d", i))
			wantErr(t, err, storage.ErrNotFound)
			_, err = s.GetAccessToken(ctx(t), fmt.Sprintf("jti-backlog-%05d", i))
			wantErr(t, err, storage.ErrNotFound)
		}
		n, err = s.DeleteExpired(ctx(t), now)
		must(t, err)
		equal(t, "rows removed by a second run", n, int64(0))
	}},
	{"empty store", func(t *testing.T, s storage.Store) {
		n, err := s.DeleteExpired(ctx(t), base())
		must(t, err)
		equal(t, "rows removed", n, int64(0))
	}},
}

var gcAccountTests = []test{
	{"removes dead tokens, captchas, device codes, browsers, counters and leases", func(t *testing.T, s storage.Store) {
		now := base()
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateClient(ctx(t), newClient("c1")))

		// One-time tokens: unused ones go at expiry; used ones are kept a day after their use
		// (so a second click says "already used"), even past their expiry.
		tokens := map[string]struct {
			expires time.Duration
			used    *time.Duration
			gone    bool
		}{
			"unused-expired":     {-time.Second, nil, true},
			"unused-live":        {time.Hour, nil, false},
			"used-recently":      {-time.Hour, ptr(-23 * time.Hour), false},
			"used-long-ago":      {time.Hour, ptr(-25 * time.Hour), true},
			"used-at-retention":  {time.Hour, ptr(-24 * time.Hour), true},
			"unused-expires-now": {0, nil, true},
		}
		for h, c := range tokens {
			tok := newOneTimeToken(h, storage.TokenReset, "u1")
			tok.CreatedAt, tok.ExpiresAt = now.Add(-48*time.Hour), now.Add(c.expires)
			if c.used != nil {
				tok.UsedAt = ptr(now.Add(*c.used))
			}
			must(t, s.CreateOneTimeToken(ctx(t), tok))
		}
		for id, exp := range map[string]time.Duration{"cap-dead": 0, "cap-live": time.Second} {
			must(t, s.CreateCaptcha(ctx(t), &storage.Captcha{ID: id, AnswerHash: "x", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(exp)}))
		}
		dDead, dLive := newDeviceCode("dev-dead", "AAAA", "c1"), newDeviceCode("dev-live", "BBBB", "c1")
		dDead.ExpiresAt = now
		must(t, s.CreateDeviceCode(ctx(t), dDead))
		must(t, s.CreateDeviceCode(ctx(t), dLive))
		for h, exp := range map[string]time.Duration{"tb-dead": -time.Minute, "tb-live": time.Minute} {
			must(t, s.CreateTrustedBrowser(ctx(t), &storage.TrustedBrowser{TokenHash: h, UserID: "u1", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(exp)}))
		}
		// Counters carry no window length: they go CounterRetention after their window began.
		_, err := s.HitCounter(ctx(t), "ctr-stale", time.Minute, now.Add(-8*24*time.Hour))
		must(t, err)
		_, err = s.HitCounter(ctx(t), "ctr-recent", time.Minute, now.Add(-time.Hour))
		must(t, err)
		ok, err := s.AcquireLease(ctx(t), "lease-dead", "a", time.Minute, now.Add(-time.Minute))
		must(t, err)
		equal(t, "lease taken", ok, true)
		ok, err = s.AcquireLease(ctx(t), "lease-live", "a", time.Minute, now)
		must(t, err)
		equal(t, "lease taken", ok, true)
		// Never collected: credentials, recovery codes, audit events.
		must(t, s.CreateMFACredential(ctx(t), newMFA("t1", "u1", storage.MFATOTP)))
		must(t, s.ReplaceRecoveryCodes(ctx(t), "u1", []string{"r1"}))
		must(t, s.AddAuditEvent(ctx(t), &storage.AuditEvent{UserID: "u1", Type: "login", CreatedAt: now.Add(-365 * 24 * time.Hour)}))

		n, err := s.DeleteExpired(ctx(t), now)
		must(t, err)
		// 4 tokens, 1 captcha, 1 device code, 1 browser, 1 counter, 1 lease
		equal(t, "rows removed", n, int64(9))

		for h, c := range tokens {
			_, err := s.ConsumeOneTimeToken(ctx(t), h, storage.TokenReset, now)
			if gone := errors.Is(err, storage.ErrNotFound); gone != c.gone {
				t.Errorf("token %s: consume says %v, want gone=%v", h, err, c.gone)
			}
		}
		_, err = s.ConsumeCaptcha(ctx(t), "cap-dead", now)
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.ConsumeCaptcha(ctx(t), "cap-live", now)
		must(t, err)
		_, err = s.GetDeviceCode(ctx(t), "dev-dead")
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetDeviceCode(ctx(t), "dev-live")
		must(t, err)
		_, err = s.GetTrustedBrowser(ctx(t), "tb-live", "u1", now)
		must(t, err)
		_, _, err = s.GetCounter(ctx(t), "ctr-stale")
		wantErr(t, err, storage.ErrNotFound)
		_, _, err = s.GetCounter(ctx(t), "ctr-recent")
		must(t, err)
		ok, err = s.AcquireLease(ctx(t), "lease-live", "b", time.Minute, now)
		must(t, err)
		equal(t, "live lease still held by a", ok, false)
		creds, err := s.ListMFACredentials(ctx(t), "u1")
		must(t, err)
		equal(t, "mfa credentials kept", len(creds), 1)
		codes, err := s.CountRecoveryCodes(ctx(t), "u1")
		must(t, err)
		equal(t, "recovery codes kept", codes, 1)
		events, err := s.ListAuditEvents(ctx(t), "u1", 0)
		must(t, err)
		equal(t, "audit events kept", len(events), 1)

		n, err = s.DeleteExpired(ctx(t), now)
		must(t, err)
		equal(t, "rows removed by a second run", n, int64(0))
	}},
}
