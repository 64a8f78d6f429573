package storagetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// parTests: pushed authorization requests (RFC 9126) are single use, per client, short lived.
var parTests = []test{
	{"taken once, by its client only", func(t *testing.T, s storage.Store) {
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		must(t, s.CreateClient(ctx(t), newClient("c2")))
		must(t, s.PutPushedRequest(ctx(t), &storage.PushedRequest{Hash: "h1", ClientID: "c1",
			Params: "scope=openid", CreatedAt: base(), ExpiresAt: base().Add(time.Minute)}))
		_, err := s.TakePushedRequest(ctx(t), "h1", "c2", base())
		wantErr(t, err, storage.ErrNotFound)
		r, err := s.TakePushedRequest(ctx(t), "h1", "c1", base().Add(time.Second))
		must(t, err)
		equal(t, "params", r.Params, "scope=openid")
		equal(t, "client", r.ClientID, "c1")
		equal(t, "expires", r.ExpiresAt, base().Add(time.Minute).UTC().Truncate(time.Millisecond))
		_, err = s.TakePushedRequest(ctx(t), "h1", "c1", base().Add(time.Second))
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"read without taking", func(t *testing.T, s storage.Store) {
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		must(t, s.CreateClient(ctx(t), newClient("c2")))
		must(t, s.PutPushedRequest(ctx(t), &storage.PushedRequest{Hash: "h1", ClientID: "c1",
			Params: "scope=openid", CreatedAt: base(), ExpiresAt: base().Add(time.Minute)}))
		_, err := s.GetPushedRequest(ctx(t), "h1", "c2", base())
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetPushedRequest(ctx(t), "h1", "c1", base().Add(time.Minute))
		wantErr(t, err, storage.ErrExpired)
		for range 2 {
			r, err := s.GetPushedRequest(ctx(t), "h1", "c1", base().Add(time.Second))
			must(t, err)
			equal(t, "params", r.Params, "scope=openid")
		}
		_, err = s.TakePushedRequest(ctx(t), "h1", "c1", base().Add(time.Second))
		must(t, err)
		_, err = s.GetPushedRequest(ctx(t), "h1", "c1", base().Add(time.Second))
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"an expired request is refused and removed", func(t *testing.T, s storage.Store) {
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		must(t, s.PutPushedRequest(ctx(t), &storage.PushedRequest{Hash: "h1", ClientID: "c1",
			Params: "a=b", CreatedAt: base(), ExpiresAt: base().Add(time.Minute)}))
		_, err := s.TakePushedRequest(ctx(t), "h1", "c1", base().Add(time.Minute))
		wantErr(t, err, storage.ErrExpired)
		_, err = s.TakePushedRequest(ctx(t), "h1", "c1", base())
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"purged when expired, gone with the client", func(t *testing.T, s storage.Store) {
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		for _, h := range []string{"old", "new", "other"} {
			exp := base().Add(time.Minute)
			if h == "old" {
				exp = base().Add(-time.Second)
			}
			must(t, s.PutPushedRequest(ctx(t), &storage.PushedRequest{Hash: h, ClientID: "c1",
				Params: "a=b", CreatedAt: base().Add(-time.Minute), ExpiresAt: exp}))
		}
		_, err := s.DeleteExpired(ctx(t), base())
		must(t, err)
		_, err = s.TakePushedRequest(ctx(t), "old", "c1", base().Add(-2*time.Second))
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.TakePushedRequest(ctx(t), "new", "c1", base())
		must(t, err)
		must(t, s.DeleteClient(ctx(t), "c1"))
		_, err = s.TakePushedRequest(ctx(t), "other", "c1", base())
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"concurrent uses: one wins", func(t *testing.T, s storage.Store) {
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		must(t, s.PutPushedRequest(ctx(t), &storage.PushedRequest{Hash: "h1", ClientID: "c1",
			Params: "a=b", CreatedAt: base(), ExpiresAt: base().Add(time.Minute)}))
		var wg sync.WaitGroup
		var won atomic.Int32
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.TakePushedRequest(ctx(t), "h1", "c1", base()); err == nil {
					won.Add(1)
				}
			}()
		}
		wg.Wait()
		equal(t, "winners", int(won.Load()), 1)
	}},
}
