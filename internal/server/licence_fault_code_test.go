package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/licence"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestLicenceClaimFailureKeepsCode: when a store call of the licences claim fails during a
// code exchange (the product, the licences, the seats, the seat's binding), the answer is
// ours (503) and the code is not burnt: the client's retry with the same code gets its
// tokens, with the claim and the seat bound, and no replay revokes the grant. For both
// token paths: opaque access tokens (the library's) and JWT ones (codegrant.go).
func TestLicenceClaimFailureKeepsCode(t *testing.T) {
	t.Parallel()
	var fs *faultstore.Store
	e := newLicenceEnvWith(t, envOptions{wrapStore: func(s storage.Store) storage.Store {
		fs = faultstore.New(s)
		return fs
	}})
	jwtApp := e.addClient(storage.ClientNative, firstParty, func(c *storage.Client) { c.Scopes = []string{licence.Scope} })
	e.sell("antivirus", jwtApp)
	codes := e.issue("antivirus", 100, 30, 1)
	if p := e.redeem(codes[0].Code); p.status != http.StatusOK {
		t.Fatalf("redeem: %d", p.status)
	}
	n := 0
	for _, c := range []struct {
		name string
		app  *testClient
	}{{"opaque", e.av}, {"jwt", jwtApp}} {
		for _, method := range []string{"ProductOfClient", "ListLicences", "ListActivations", "Activate"} {
			n++
			device := fmt.Sprintf("install-%d", n)
			res, verifier := e.signIn(e.b, c.app, "ada@example.com", oauth2.SetAuthURLParam("scope", "openid offline_access licences"),
				oauth2.SetAuthURLParam("device_id", device), oauth2.SetAuthURLParam("device_name", device))
			form := url.Values{"grant_type": {"authorization_code"}, "code": {res.code}, "code_verifier": {verifier},
				"redirect_uri": {c.app.Redirect}, "client_id": {c.app.ID}}
			rule := fs.Add(faultstore.Rule{Method: method, Err: faultstore.ErrInjected, Times: 1})
			st, _, body := e.postForm("/oauth/token", form, "", "")
			fs.Clear()
			if fs.Applied(rule) != 1 {
				t.Fatalf("%s, %s: the fault was not hit (%d %s)", c.name, method, st, body)
			}
			if st != http.StatusServiceUnavailable {
				t.Fatalf("%s, %s failing: %d %s, want 503", c.name, method, st, body)
			}
			st, _, body = e.postForm("/oauth/token", form, "", "")
			if st != http.StatusOK {
				t.Fatalf("%s, retry after %s failed: %d %s (the code was burnt by our failure)", c.name, method, st, body)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(body), &m); err != nil {
				t.Fatal(err)
			}
			es, ok := idTokenLicences(t, (&oauth2.Token{AccessToken: m["access_token"].(string)}).WithExtra(m))
			if !ok || len(es) != 1 || !es[0].ThisDevice {
				t.Fatalf("%s, retry after %s failed: licences claim %+v (present %v), want this device's seat", c.name, method, es, ok)
			}
			// The grant is live: its refresh token works (a replay would have revoked it).
			st, _, body = e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"},
				"refresh_token": {m["refresh_token"].(string)}, "client_id": {c.app.ID}}, "", "")
			if st != http.StatusOK {
				t.Fatalf("%s, refresh after the retry: %d %s", c.name, st, body)
			}
		}
	}
}

// TestLicenceClaimFailureKeepsDeviceCode: the device grant binds the licence seat with the
// device code's use, as a code exchange does: a store call of the claim failing answers the
// poll 503 and the device's next poll gets its tokens, with this device's seat in the claim.
func TestLicenceClaimFailureKeepsDeviceCode(t *testing.T) {
	t.Parallel()
	var fs *faultstore.Store
	e := newLicenceEnvWith(t, envOptions{wrapStore: func(s storage.Store) storage.Store {
		fs = faultstore.New(s)
		return fs
	}})
	tv := e.addClient(storage.ClientNative, withGrants(grantDevice, "refresh_token"), firstParty,
		func(c *storage.Client) { c.Scopes = []string{licence.Scope} })
	e.sell("antivirus", tv)
	codes := e.issue("antivirus", 100, 30, 1)
	if p := e.redeem(codes[0].Code); p.status != http.StatusOK {
		t.Fatalf("redeem: %d", p.status)
	}
	for i, method := range []string{"ProductOfClient", "ListLicences", "ListActivations", "Activate"} {
		device := fmt.Sprintf("tv-%d", i)
		da := e.authorizeDevice(tv, "openid offline_access licences", url.Values{"device_id": {device}, "device_name": {device}})
		e.decideDevice(e.b, da.UserCode, "approve")
		rule := fs.Add(faultstore.Rule{Method: method, Err: faultstore.ErrInjected, Times: 1})
		st, m := e.pollDevice(tv, da.DeviceCode)
		fs.Clear()
		if fs.Applied(rule) != 1 || st != http.StatusServiceUnavailable {
			t.Fatalf("%s failing: %d %v (applied %d), want 503", method, st, m, fs.Applied(rule))
		}
		st, m = e.pollDevice(tv, da.DeviceCode)
		if st != http.StatusOK {
			t.Fatalf("poll after %s failed: %d %v (the device code was burnt by our failure)", method, st, m)
		}
		es, ok := idTokenLicences(t, (&oauth2.Token{AccessToken: m["access_token"].(string)}).WithExtra(m))
		if !ok || len(es) != 1 || !es[0].ThisDevice {
			t.Fatalf("poll after %s failed: licences claim %+v (present %v), want this device's seat", method, es, ok)
		}
	}
}
