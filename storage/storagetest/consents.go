package storagetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

var consentTests = []test{
	{"save, replace, get and delete", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		must(t, s.CreateClient(ctx(t), newClient("c2")))
		_, err := s.GetConsent(ctx(t), "u1", "c1")
		wantErr(t, err, storage.ErrNotFound)

		c := &storage.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{"openid", "email"}, GrantedAt: base()}
		must(t, s.SaveConsent(ctx(t), c))
		got, err := s.GetConsent(ctx(t), "u1", "c1")
		must(t, err)
		equal(t, "GetConsent", got, stored(c))

		replaced := &storage.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{"openid", "profile", "calendar.read"}, GrantedAt: base().Add(time.Hour)}
		must(t, s.SaveConsent(ctx(t), replaced))
		got, err = s.GetConsent(ctx(t), "u1", "c1")
		must(t, err)
		equal(t, "replaced consent", got, stored(replaced))

		c2 := &storage.Consent{UserID: "u1", ClientID: "c2", Scopes: []string{"openid"}, GrantedAt: base()}
		must(t, s.SaveConsent(ctx(t), c2))
		must(t, s.CreateUser(ctx(t), newUser("u2")))
		must(t, s.SaveConsent(ctx(t), &storage.Consent{UserID: "u2", ClientID: "c2", Scopes: []string{"email"}, GrantedAt: base()}))
		all, err := s.ListConsents(ctx(t), "u1")
		must(t, err)
		slices.SortFunc(all, func(a, b *storage.Consent) int { return strings.Compare(a.ClientID, b.ClientID) })
		equal(t, "ListConsents", all, []*storage.Consent{stored(replaced), stored(c2)})
		none, err := s.ListConsents(ctx(t), "nobody")
		must(t, err)
		equal(t, "ListConsents of nobody", len(none), 0)
		must(t, s.DeleteConsent(ctx(t), "u1", "c1"))
		_, err = s.GetConsent(ctx(t), "u1", "c1")
		wantErr(t, err, storage.ErrNotFound)
		_, err = s.GetConsent(ctx(t), "u1", "c2")
		must(t, err)
		wantErr(t, s.DeleteConsent(ctx(t), "u1", "c1"), storage.ErrNotFound)
	}},
	{"save fills GrantedAt", func(t *testing.T, s storage.Store) {
		must(t, s.CreateUser(ctx(t), newUser("u1")))
		must(t, s.CreateClient(ctx(t), newClient("c1")))
		c := &storage.Consent{UserID: "u1", ClientID: "c1"}
		must(t, s.SaveConsent(ctx(t), c))
		if c.GrantedAt.IsZero() {
			t.Fatal("GrantedAt not filled")
		}
		got, err := s.GetConsent(ctx(t), "u1", "c1")
		must(t, err)
		equal(t, "GetConsent", got, stored(c))
	}},
}
