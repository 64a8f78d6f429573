package storagetest

import (
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// registrationTests: dynamic client registration's tokens (RFC 7591/7592).
var registrationTests = []test{
	{"initial access token uses run out", func(t *testing.T, s storage.Store) {
		must(t, s.CreateInitialAccessToken(ctx(t), &storage.InitialAccessToken{Hash: "h1", UsesLeft: 2,
			CreatedBy: "cli", CreatedAt: base(), ExpiresAt: base().Add(time.Hour)}))
		must(t, s.UseInitialAccessToken(ctx(t), "h1", base().Add(time.Minute)))
		must(t, s.UseInitialAccessToken(ctx(t), "h1", base().Add(time.Minute)))
		wantErr(t, s.UseInitialAccessToken(ctx(t), "h1", base().Add(time.Minute)), storage.ErrAlreadyUsed)
		wantErr(t, s.UseInitialAccessToken(ctx(t), "nope", base()), storage.ErrNotFound)
		wantErr(t, s.CreateInitialAccessToken(ctx(t), &storage.InitialAccessToken{Hash: "h1", UsesLeft: 1,
			ExpiresAt: base().Add(time.Hour)}), storage.ErrConflict)
	}},
	{"an expired initial access token is refused and purged", func(t *testing.T, s storage.Store) {
		must(t, s.CreateInitialAccessToken(ctx(t), &storage.InitialAccessToken{Hash: "h1", UsesLeft: 5,
			CreatedAt: base(), ExpiresAt: base().Add(time.Hour)}))
		must(t, s.CreateInitialAccessToken(ctx(t), &storage.InitialAccessToken{Hash: "h2", UsesLeft: 5,
			CreatedAt: base(), ExpiresAt: base().Add(3 * time.Hour)}))
		wantErr(t, s.UseInitialAccessToken(ctx(t), "h1", base().Add(time.Hour)), storage.ErrExpired)
		_, err := s.DeleteExpired(ctx(t), base().Add(2*time.Hour))
		must(t, err)
		wantErr(t, s.UseInitialAccessToken(ctx(t), "h1", base().Add(time.Minute)), storage.ErrNotFound)
		must(t, s.UseInitialAccessToken(ctx(t), "h2", base().Add(2*time.Hour)))
	}},
	{"concurrent registrations spend each use once", func(t *testing.T, s storage.Store) {
		must(t, s.CreateInitialAccessToken(ctx(t), &storage.InitialAccessToken{Hash: "h1", UsesLeft: 3,
			CreatedAt: base(), ExpiresAt: base().Add(time.Hour)}))
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if s.UseInitialAccessToken(ctx(t), "h1", base().Add(time.Minute)) == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		equal(t, "successful uses", ok, 3)
	}},
	{"registration token set, replaced, looked up, gone with the client", func(t *testing.T, s storage.Store) {
		wantErr(t, s.SetRegistrationToken(ctx(t), "c1", "rat1", base()), storage.ErrNotFound)
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		must(t, s.SetRegistrationToken(ctx(t), "c1", "rat1", base()))
		id, err := s.ClientByRegistrationToken(ctx(t), "rat1")
		must(t, err)
		equal(t, "client", id, "c1")
		must(t, s.SetRegistrationToken(ctx(t), "c1", "rat2", base().Add(time.Minute)))
		_, err = s.ClientByRegistrationToken(ctx(t), "rat1")
		wantErr(t, err, storage.ErrNotFound)
		id, err = s.ClientByRegistrationToken(ctx(t), "rat2")
		must(t, err)
		equal(t, "client after rotation", id, "c1")
		must(t, s.DeleteClient(ctx(t), "c1"))
		_, err = s.ClientByRegistrationToken(ctx(t), "rat2")
		wantErr(t, err, storage.ErrNotFound)
	}},
}
