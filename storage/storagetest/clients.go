package storagetest

import (
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

var clientTests = []test{
	{"create and get round-trip every field", func(t *testing.T, s storage.Store) {
		c := newClient("c1")
		must(t, s.CreateClient(ctx(t), c))
		got, err := s.GetClient(ctx(t), "c1")
		must(t, err)
		equal(t, "GetClient", got, stored(c))
	}},
	{"logo, home page, policy and terms URIs round-trip and update", func(t *testing.T, s storage.Store) {
		c := newClient("c1")
		c.LogoURI = "https://cdn.photo.example/logo.png?v=2&size=\"64\""
		c.ClientURI = "https://photo.example/"
		c.PolicyURI = "https://photo.example/privacy#données"
		c.TosURI = "https://photo.example/terms"
		must(t, s.CreateClient(ctx(t), c))
		got, err := s.GetClient(ctx(t), "c1")
		must(t, err)
		equal(t, "GetClient", got, stored(c))
		list, err := s.ListClients(ctx(t))
		must(t, err)
		equal(t, "ListClients", list, []*storage.Client{stored(c)})

		// An update may change one and clear another; the rest stay.
		_, err = s.UpdateClient(ctx(t), "c1", func(c *storage.Client) error {
			c.LogoURI = "https://photo.example/new-logo.svg"
			c.TosURI = ""
			return nil
		})
		must(t, err)
		got, err = s.GetClient(ctx(t), "c1")
		must(t, err)
		equal(t, "LogoURI", got.LogoURI, "https://photo.example/new-logo.svg")
		equal(t, "ClientURI", got.ClientURI, c.ClientURI)
		equal(t, "PolicyURI", got.PolicyURI, c.PolicyURI)
		equal(t, "TosURI", got.TosURI, "")

		// A client without them (every client before migration 0006) reads back empty.
		must(t, s.CreateClient(ctx(t), newClient("c2")))
		got, err = s.GetClient(ctx(t), "c2")
		must(t, err)
		if got.LogoURI != "" || got.ClientURI != "" || got.PolicyURI != "" || got.TosURI != "" {
			t.Fatalf("client without URIs read back %q %q %q %q", got.LogoURI, got.ClientURI, got.PolicyURI, got.TosURI)
		}
	}},
	{"durations keep whole seconds", func(t *testing.T, s storage.Store) {
		c := newClient("c1")
		c.AccessTokenTTL = 90*time.Second + 700*time.Millisecond
		c.IDTokenTTL = 0
		c.RefreshTokenTTL = 400 * 24 * time.Hour
		must(t, s.CreateClient(ctx(t), c))
		got, err := s.GetClient(ctx(t), "c1")
		must(t, err)
		equal(t, "AccessTokenTTL", got.AccessTokenTTL, 90*time.Second)
		equal(t, "IDTokenTTL", got.IDTokenTTL, time.Duration(0))
		equal(t, "RefreshTokenTTL", got.RefreshTokenTTL, 400*24*time.Hour)
	}},
	{"empty lists read back nil and false bools false", func(t *testing.T, s storage.Store) {
		c := newClient("c1")
		c.RedirectURIs, c.PostLogoutRedirectURIs, c.GrantTypes, c.Scopes = []string{}, nil, []string{}, nil
		c.FirstParty, c.RequireMFA, c.Type, c.SecretHash = false, false, storage.ClientPublic, ""
		c.RequirePAR, c.DPoPBoundAccessTokens, c.BackchannelLogoutSessionRequired, c.Resources = false, false, false, []string{}
		must(t, s.CreateClient(ctx(t), c))
		got, err := s.GetClient(ctx(t), "c1")
		must(t, err)
		equal(t, "GetClient", got, stored(c))
		if got.RedirectURIs != nil || got.Scopes != nil {
			t.Fatalf("empty lists read back as %#v, %#v; want nil", got.RedirectURIs, got.Scopes)
		}
	}},
	{"lists keep order and special characters", func(t *testing.T, s storage.Store) {
		c := newClient("c1")
		c.RedirectURIs = []string{"https://z.example/cb?a=1&b=\"2\"", "http://127.0.0.1:8080/é", "com.example.app:/cb"}
		must(t, s.CreateClient(ctx(t), c))
		got, err := s.GetClient(ctx(t), "c1")
		must(t, err)
		equal(t, "RedirectURIs", got.RedirectURIs, c.RedirectURIs)
	}},
	{"duplicate id is ErrConflict", func(t *testing.T, s storage.Store) {
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		dup := newClient("c1")
		dup.Name = "other"
		wantErr(t, s.CreateClient(ctx(t), dup), storage.ErrConflict)
		got, err := s.GetClient(ctx(t), "c1")
		must(t, err)
		equal(t, "Name", got.Name, "Client c1")
	}},
	{"unknown client is ErrNotFound", func(t *testing.T, s storage.Store) {
		_, err := s.GetClient(ctx(t), "nope")
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.UpdateClient(ctx(t), "nope", func(*storage.Client) error { return nil })
		wantErr(t, err, storage.ErrNotFound)
		wantErr(t, s.DeleteClient(ctx(t), "nope"), storage.ErrNotFound)
	}},
	{"list is ordered by id", func(t *testing.T, s storage.Store) {
		for _, id := range []string{"b", "c", "a"} {
			must(t, s.CreateClient(ctx(t), newClient(id)))
		}
		got, err := s.ListClients(ctx(t))
		must(t, err)
		equal(t, "ListClients", got, []*storage.Client{stored(newClient("a")), stored(newClient("b")), stored(newClient("c"))})
	}},
	{"update stores fn's changes", func(t *testing.T, s storage.Store) {
		c := newClient("c1")
		must(t, s.CreateClient(ctx(t), c))
		got, err := s.UpdateClient(ctx(t), "c1", func(c *storage.Client) error {
			c.ID = "hijack"
			c.RedirectURIs = append(c.RedirectURIs, "https://new.example/cb")
			c.Scopes = nil
			c.AccessTokenTTL = 5 * time.Minute
			c.RequireMFA = false
			c.RequirePAR, c.DPoPBoundAccessTokens, c.BackchannelLogoutSessionRequired = false, false, false
			c.Resources = []string{"urn:example:api", "https://api.example/"}
			c.TokenEndpointAuthMethod, c.JWKSURI = "", ""
			return nil
		})
		must(t, err)
		if !got.UpdatedAt.After(c.UpdatedAt) {
			t.Fatalf("UpdatedAt = %v, want it bumped past %v", got.UpdatedAt, c.UpdatedAt)
		}
		read, err := s.GetClient(ctx(t), "c1")
		must(t, err)
		equal(t, "stored client", read, stored(got))
		equal(t, "RedirectURIs", read.RedirectURIs, append(c.RedirectURIs, "https://new.example/cb"))
		equal(t, "Scopes", read.Scopes, []string(nil))
		equal(t, "RequireMFA", read.RequireMFA, false)
		equal(t, "RequirePAR", read.RequirePAR, false)
		equal(t, "Resources", read.Resources, []string{"urn:example:api", "https://api.example/"})
		equal(t, "TokenEndpointAuthMethod", read.TokenEndpointAuthMethod, "")
		_, err = s.GetClient(ctx(t), "hijack")
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"update fn error rolls back", func(t *testing.T, s storage.Store) {
		c := newClient("c1")
		must(t, s.CreateClient(ctx(t), c))
		_, err := s.UpdateClient(ctx(t), "c1", func(c *storage.Client) error {
			c.Name = "changed"
			return errBoom
		})
		wantErr(t, err, errBoom)
		got, err := s.GetClient(ctx(t), "c1")
		must(t, err)
		equal(t, "client after failed update", got, stored(c))
	}},
	{"delete removes the client's grants, tokens, consents and requests", func(t *testing.T, s storage.Store) {
		w := makeWorld(t, s, "1")
		other := makeWorld(t, s, "2")
		must(t, s.SaveConsent(ctx(t), &storage.Consent{UserID: w.user.ID, ClientID: w.client.ID}))
		must(t, s.CreateAuthRequest(ctx(t), newAuthRequest("ar1", w.client.ID)))

		must(t, s.DeleteClient(ctx(t), w.client.ID))

		_, err := s.GetClient(ctx(t), w.client.ID)
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetGrant(ctx(t), w.grant.ID)
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetRefreshToken(ctx(t), w.refresh.Hash)
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetAccessToken(ctx(t), w.access.IDHash)
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetConsent(ctx(t), w.user.ID, w.client.ID)
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetAuthRequest(ctx(t), "ar1")
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetUser(ctx(t), w.user.ID)
		must(t, err)
		_, err = s.GetGrant(ctx(t), other.grant.ID)
		must(t, err)
	}},
	{"lock of an unknown client is ErrNotFound", func(t *testing.T, s storage.Store) {
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		wantErr(t, s.LockClient(ctx(t), "nope"), storage.ErrNotFound)
		must(t, s.LockClient(ctx(t), "c1")) // outside a transaction: only that it exists
		err := s.InTx(ctx(t), func(tx storage.Store) error {
			must(t, tx.LockClient(ctx(t), "c1"))
			must(t, tx.LockClient(ctx(t), "c1")) // again in the same transaction: it holds it
			return tx.LockClient(ctx(t), "nope")
		})
		wantErr(t, err, storage.ErrNotFound)
	}},
	{"a transaction that locks a client waits for the one holding the lock", func(t *testing.T, s storage.Store) {
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		seen := lockWaits(t, s, func(tx storage.Store) error { return tx.LockClient(ctx(t), "c1") },
			func(tx storage.Store) error {
				_, err := tx.UpdateClient(ctx(t), "c1", func(c *storage.Client) error { c.Name = "Renamed"; return nil })
				return err
			},
			func(tx storage.Store) (string, error) {
				c, err := tx.GetClient(ctx(t), "c1")
				if err != nil {
					return "", err
				}
				return c.Name, nil
			})
		// What the first committed before releasing the lock is what the second decides from.
		if seen != "Renamed" {
			t.Fatalf("after the lock the second transaction read the name %q, want the first's Renamed", seen)
		}
	}},
}
