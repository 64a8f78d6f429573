package storagetest

import (
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// denylistTests: the denylist of revoked stateless (client_credentials JWT) access tokens.
var denylistTests = []test{
	{"a denied token is denied, others are not", func(t *testing.T, s storage.Store) {
		now := base()
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		denied, err := s.AccessTokenDenied(ctx(t), "jti-hash-1")
		must(t, err)
		equal(t, "before revocation", denied, false)

		must(t, s.DenyAccessToken(ctx(t), "jti-hash-1", "c1", now.Add(time.Hour), now))
		denied, err = s.AccessTokenDenied(ctx(t), "jti-hash-1")
		must(t, err)
		equal(t, "after revocation", denied, true)
		denied, err = s.AccessTokenDenied(ctx(t), "jti-hash-2")
		must(t, err)
		equal(t, "another token", denied, false)
	}},
	{"denying twice is not an error", func(t *testing.T, s storage.Store) {
		now := base()
		must(t, s.DenyAccessToken(ctx(t), "h", "c1", now.Add(time.Hour), now))
		// A second revocation (a retry, another instance) succeeds and keeps the entry.
		must(t, s.DenyAccessToken(ctx(t), "h", "c1", now.Add(time.Hour), now.Add(time.Minute)))
		denied, err := s.AccessTokenDenied(ctx(t), "h")
		must(t, err)
		equal(t, "denied", denied, true)
	}},
	{"the client need not exist", func(t *testing.T, s storage.Store) {
		// A denylist entry outlives its client (deleting a client refuses its tokens anyway).
		now := base()
		must(t, s.DenyAccessToken(ctx(t), "h", "gone", now.Add(time.Hour), now))
		denied, err := s.AccessTokenDenied(ctx(t), "h")
		must(t, err)
		equal(t, "denied", denied, true)
	}},
	{"inside a transaction", func(t *testing.T, s storage.Store) {
		now := base()
		err := s.InTx(ctx(t), func(tx storage.Store) error {
			must(t, tx.DenyAccessToken(ctx(t), "h", "c1", now.Add(time.Hour), now))
			denied, err := tx.AccessTokenDenied(ctx(t), "h")
			must(t, err)
			equal(t, "denied within the transaction", denied, true)
			return errBoom
		})
		wantErr(t, err, errBoom)
		denied, err := s.AccessTokenDenied(ctx(t), "h")
		must(t, err)
		equal(t, "denied after rollback", denied, false)
	}},
	{"DeleteExpired purges entries past their expiry, and only those", func(t *testing.T, s storage.Store) {
		now := base()
		must(t, s.DenyAccessToken(ctx(t), "expired", "c1", now.Add(-time.Second), now.Add(-time.Hour)))
		must(t, s.DenyAccessToken(ctx(t), "at-now", "c1", now, now.Add(-time.Hour)))
		must(t, s.DenyAccessToken(ctx(t), "live", "c1", now.Add(time.Second), now.Add(-time.Hour)))
		n, err := s.DeleteExpired(ctx(t), now)
		must(t, err)
		equal(t, "rows removed", n, int64(2))
		for h, want := range map[string]bool{"expired": false, "at-now": false, "live": true} {
			denied, err := s.AccessTokenDenied(ctx(t), h)
			must(t, err)
			equal(t, h+" denied after DeleteExpired", denied, want)
		}
		n, err = s.DeleteExpired(ctx(t), now)
		must(t, err)
		equal(t, "rows removed by a second run", n, int64(0))
	}},
}
