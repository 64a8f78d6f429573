package server_test

import (
	"net/http"
	"testing"

	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestSessionLookupFailureIsOurs: when the database fails while a signed-in person opens a
// page that needs the session, they get the "try again" answer (503), not the sign-in page
// (which would tell them they were signed out), and once the database is back they are still
// signed in.
func TestSessionLookupFailureIsOurs(t *testing.T) {
	for _, method := range []string{"GetSessionByTokenHash", "GetUser"} {
		t.Run(method, func(t *testing.T) {
			e, fs := faultEnv(t, nil)
			e.addUser("ada@example.com")
			b := e.signedInBrowser("ada@example.com")
			b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			for _, path := range []string{"/account", "/account/devices", "/account/security"} {
				fs.Add(faultstore.Rule{Method: method, Times: 1, Err: faultstore.ErrInjected})
				p := b.get(e.issuer + path)
				if p.status != http.StatusServiceUnavailable {
					t.Errorf("%s with %s failing: status %d (Location %q), want 503", path, method, p.status, p.header.Get("Location"))
				}
				if p := b.get(e.issuer + path); p.status != http.StatusOK {
					t.Errorf("%s after the failure: status %d, want 200 (still signed in)", path, p.status)
				}
			}
		})
	}
}
