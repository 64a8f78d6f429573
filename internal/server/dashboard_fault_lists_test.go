package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestDashboardListFailuresAreOurs: when the database fails while the Apps or Devices page
// lists what has access to the account, the person gets the "try again" answer (503), not a
// page that says nothing has access (200 "No app has access to your account."): that would
// be a false answer about their account's security. Once the database is back the page shows.
func TestDashboardListFailuresAreOurs(t *testing.T) {
	t.Parallel()
	cases := []struct{ path, method, empty string }{
		{"/account/apps", "ListGrants", "No app has access to your account."},
		{"/account/devices", "ListGrants", ""},
		{"/account/devices", "ListSessions", ""},
		{"/account", "ListSessions", ""},
		{"/account", "ListGrants", ""},
		{"/account", "ListAuditEvents", ""},
	}
	for _, tc := range cases {
		t.Run(tc.path+" "+tc.method, func(t *testing.T) {
			e, fs := faultEnv(t, nil)
			e.addUser("ada@example.com")
			b := e.signedInBrowser("ada@example.com")
			r := fs.Add(faultstore.Rule{Method: tc.method, Times: 1, Err: faultstore.ErrInjected})
			p := b.get(e.issuer + tc.path)
			if fs.Applied(r) != 1 {
				t.Fatalf("%s did not call %s", tc.path, tc.method)
			}
			if p.status != http.StatusServiceUnavailable {
				t.Errorf("%s with %s failing: status %d, want 503", tc.path, tc.method, p.status)
			}
			if tc.empty != "" && strings.Contains(p.body, tc.empty) {
				t.Errorf("%s with %s failing says %q", tc.path, tc.method, tc.empty)
			}
			if p := b.get(e.issuer + tc.path); p.status != http.StatusOK {
				t.Errorf("%s after the failure: status %d, want 200", tc.path, p.status)
			}
		})
	}
}
