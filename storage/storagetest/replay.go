package storagetest

import (
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// replayTests: the replay cache of single-use JWT ids (DPoP proofs, client assertions).
var replayTests = []test{
	{"a jti is fresh once, then a replay", func(t *testing.T, s storage.Store) {
		exp := time.Now().Add(time.Hour)
		fresh, err := s.RememberJTI(ctx(t), storage.ReplayDPoP, "h1", exp)
		must(t, err)
		equal(t, "first use", fresh, true)
		fresh, err = s.RememberJTI(ctx(t), storage.ReplayDPoP, "h1", exp)
		must(t, err)
		equal(t, "second use", fresh, false)
		fresh, err = s.RememberJTI(ctx(t), storage.ReplayDPoP, "h2", exp)
		must(t, err)
		equal(t, "another jti", fresh, true)
	}},
	{"kinds are separate", func(t *testing.T, s storage.Store) {
		// A client assertion and a DPoP proof with the same jti do not collide.
		exp := time.Now().Add(time.Hour)
		fresh, err := s.RememberJTI(ctx(t), storage.ReplayDPoP, "h", exp)
		must(t, err)
		equal(t, "dpop", fresh, true)
		fresh, err = s.RememberJTI(ctx(t), storage.ReplayAssertion, "h", exp)
		must(t, err)
		equal(t, "assertion with the same hash", fresh, true)
		fresh, err = s.RememberJTI(ctx(t), storage.ReplayAssertion, "h", exp)
		must(t, err)
		equal(t, "assertion again", fresh, false)
	}},
	{"an expired entry not yet purged counts as unseen", func(t *testing.T, s storage.Store) {
		fresh, err := s.RememberJTI(ctx(t), storage.ReplayDPoP, "h", time.Now().Add(-time.Second))
		must(t, err)
		equal(t, "first use", fresh, true)
		fresh, err = s.RememberJTI(ctx(t), storage.ReplayDPoP, "h", time.Now().Add(time.Hour))
		must(t, err)
		equal(t, "after expiry", fresh, true)
		fresh, err = s.RememberJTI(ctx(t), storage.ReplayDPoP, "h", time.Now().Add(time.Hour))
		must(t, err)
		equal(t, "again while live", fresh, false)
	}},
	{"a forgotten jti is fresh again, of its kind only", func(t *testing.T, s storage.Store) {
		exp := time.Now().Add(time.Hour)
		for _, kind := range []string{storage.ReplayDPoP, storage.ReplayAssertion} {
			fresh, err := s.RememberJTI(ctx(t), kind, "h", exp)
			must(t, err)
			equal(t, kind+" first use", fresh, true)
		}
		must(t, s.ForgetJTI(ctx(t), storage.ReplayDPoP, "h"))
		fresh, err := s.RememberJTI(ctx(t), storage.ReplayDPoP, "h", exp)
		must(t, err)
		equal(t, "forgotten, used again", fresh, true)
		fresh, err = s.RememberJTI(ctx(t), storage.ReplayDPoP, "h", exp)
		must(t, err)
		equal(t, "and then a replay", fresh, false)
		fresh, err = s.RememberJTI(ctx(t), storage.ReplayAssertion, "h", exp)
		must(t, err)
		equal(t, "the other kind's entry kept", fresh, false)
		must(t, s.ForgetJTI(ctx(t), storage.ReplayDPoP, "never-seen"))
	}},
	{"concurrent uses: exactly one is fresh", func(t *testing.T, s storage.Store) {
		const n = 8
		exp := time.Now().Add(time.Hour)
		var wg sync.WaitGroup
		var mu sync.Mutex
		freshes, errs := 0, []error{}
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fresh, err := s.RememberJTI(ctx(t), storage.ReplayDPoP, "race", exp)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				} else if fresh {
					freshes++
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			t.Errorf("RememberJTI: %v", err)
		}
		equal(t, "fresh answers", freshes, 1)
	}},
	{"inside a rolled back transaction it is forgotten", func(t *testing.T, s storage.Store) {
		exp := time.Now().Add(time.Hour)
		err := s.InTx(ctx(t), func(tx storage.Store) error {
			fresh, err := tx.RememberJTI(ctx(t), storage.ReplayDPoP, "h", exp)
			must(t, err)
			equal(t, "in the transaction", fresh, true)
			fresh, err = tx.RememberJTI(ctx(t), storage.ReplayDPoP, "h", exp)
			must(t, err)
			equal(t, "again in the transaction", fresh, false)
			return errBoom
		})
		wantErr(t, err, errBoom)
		fresh, err := s.RememberJTI(ctx(t), storage.ReplayDPoP, "h", exp)
		must(t, err)
		equal(t, "after rollback", fresh, true)
	}},
	{"DeleteExpired purges entries past their expiry, and only those", func(t *testing.T, s storage.Store) {
		// RememberJTI reads the store's clock to tell a stale entry, so this "now" is real.
		now := wallNow()
		for h, exp := range map[string]time.Time{"expired": now.Add(-time.Second), "at-now": now, "live": now.Add(time.Second)} {
			_, err := s.RememberJTI(ctx(t), storage.ReplayDPoP, h, exp)
			must(t, err)
		}
		// Same hash, other kind, live: must survive although its hash equals a purged one.
		_, err := s.RememberJTI(ctx(t), storage.ReplayAssertion, "expired", now.Add(time.Hour))
		must(t, err)
		n, err := s.DeleteExpired(ctx(t), now)
		must(t, err)
		equal(t, "rows removed", n, int64(2))
		fresh, err := s.RememberJTI(ctx(t), storage.ReplayAssertion, "expired", now.Add(time.Hour))
		must(t, err)
		equal(t, "the other kind's live entry kept", fresh, false)
		n, err = s.DeleteExpired(ctx(t), now)
		must(t, err)
		equal(t, "rows removed by a second run", n, int64(0))
	}},
}

// dpopBindingTests: the DPoP key thumbprint kept with refresh and access tokens (0017).
var dpopBindingTests = []test{
	{"a token's DPoP binding round-trips, and rotation stores the successor's", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		got, err := s.GetRefreshToken(ctx(t), w.refresh.Hash)
		must(t, err)
		equal(t, "unbound refresh token", got.DPoPJKT, "")
		rt := newRefresh("bound", w.grant)
		rt.DPoPJKT = "jkt-A"
		must(t, s.CreateRefreshToken(ctx(t), rt))
		got, err = s.GetRefreshToken(ctx(t), rt.Hash)
		must(t, err)
		equal(t, "bound refresh token", got.DPoPJKT, "jkt-A")

		next := newRefresh("bound-next", w.grant)
		next.DPoPJKT = "jkt-A"
		must(t, s.RotateRefreshToken(ctx(t), rt.Hash, next, base().Add(time.Minute), storage.RefreshGrace{}))
		got, err = s.GetRefreshToken(ctx(t), next.Hash)
		must(t, err)
		equal(t, "rotated successor", got.DPoPJKT, "jkt-A")

		at := newAccess("bound", w.grant)
		at.DPoPJKT = "jkt-B"
		must(t, s.CreateAccessToken(ctx(t), at))
		gotAT, err := s.GetAccessToken(ctx(t), at.IDHash)
		must(t, err)
		equal(t, "bound access token", gotAT.DPoPJKT, "jkt-B")
		gotAT, err = s.GetAccessToken(ctx(t), w.access.IDHash)
		must(t, err)
		equal(t, "unbound access token", gotAT.DPoPJKT, "")
	}},
	{"an auth request's resource indicators round-trip", func(t *testing.T, s storage.Store) {
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		ar := newAuthRequest("ar1", "c1")
		ar.Resources = []string{"https://api.example/", "https://files.example/"}
		must(t, s.CreateAuthRequest(ctx(t), ar))
		got, err := s.GetAuthRequest(ctx(t), "ar1")
		must(t, err)
		equal(t, "resources", got.Resources, ar.Resources)
	}},
}
