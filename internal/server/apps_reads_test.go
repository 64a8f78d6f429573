package server_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/myaccount/myaccount/storage"
)

// TestAppsPageReadsAreFlat: the page of a person's apps reads the same number of times with
// one third-party app as with six: their consents are one read, not one per client.
func TestAppsPageReadsAreFlat(t *testing.T) {
	t.Parallel()
	var log callLog
	e := newEnvWith(t, envOptions{wrapStore: log.wrap})
	u := e.addUser("ada@example.com")
	b := e.browser()
	e.signIn(b, e.addClient(storage.ClientConfidential, firstParty), "ada@example.com")
	consentTo := func() {
		c := e.addClient(storage.ClientConfidential)
		if err := e.store.SaveConsent(context.Background(), &storage.Consent{UserID: u.ID, ClientID: c.ID,
			Scopes: []string{"openid", "email"}, GrantedAt: e.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	view := func() []string {
		var p *page
		calls := log.record(func() { p = b.get(e.issuer + "/account/apps") })
		if p.status != http.StatusOK {
			t.Fatalf("/account/apps: %d\n%.400s", p.status, p.body)
		}
		return calls
	}
	consentTo()
	one := view()
	for range 5 {
		consentTo()
	}
	six := view()
	if !slices.Equal(one, six) {
		t.Errorf("with six third-party apps the page made %d store calls %v, with one %d %v", len(six), six, len(one), one)
	}
}
