package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/storage"
)

// TestDeviceApprovalStepsUpARememberedBrowser: a product that requires two-step verification
// is approved from a browser that remembers the second step, so its session is the password
// alone. The approval sends the person to sign in again, which asks for the authenticator app
// even there, and comes back to the approval, which then goes through: not refused again, in
// a loop of sign-ins that each skip the app.
func TestDeviceApprovalStepsUpARememberedBrowser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.clock.Advance(0)
	const email = "tv@example.com"
	e.addUser(email)
	c := e.deviceClient(storage.ClientNative)
	if _, err := e.store.UpdateClient(context.Background(), c.ID, func(cl *storage.Client) error {
		cl.RequireMFA = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	e.passwordSignIn(b, email)
	key, _ := e.enrolTOTP(b, b.get(e.issuer+"/account/security"), "Phone")
	e.signOut(b)
	e.nextTOTPStep()
	p := b.mfaPost(e.passwordSignIn(b, email), "totp", e.totpNow(key), true) // remember this browser
	mustAt(t, p, "/account", "Your account")
	e.signOut(b)
	mustAt(t, e.passwordSignIn(b, email), "/account", "Your account") // the password alone here

	da := e.authorizeDevice(c, "openid offline_access", nil)
	p = e.decideDevice(b, da.UserCode, "approve")
	if p.url.Path != "/login" || p.url.Query().Get("reauth") != "1" {
		t.Fatalf("approving with a password-only session ended at %s, want the sign-in again", p.url)
	}
	p = b.submitLogin(p, email, testPassword)
	mustAt(t, p, "/mfa", "Two-step verification")
	e.nextTOTPStep()
	p = b.mfaPost(p, "totp", e.totpNow(key), false)
	if p.url.Path != "/device" {
		t.Fatalf("after signing in again the browser is at %s, want back at the device page", p.url)
	}
	f := p.formValues() // the code filled in again
	f.Set("user_code", enteredCode(t, p))
	if p = b.decide(b.post(e.issuer+"/device", f), "approve"); p.status != http.StatusOK || !strings.Contains(p.body, "You can return to your device") {
		t.Fatalf("approval after the step-up: %d at %s\n%.600s", p.status, p.url, p.body)
	}
	if st, m := e.pollDevice(c, da.DeviceCode); st != http.StatusOK {
		t.Fatalf("the device's poll after approval: %d %v", st, m)
	}
}
