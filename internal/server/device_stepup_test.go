package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
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

// TestDeviceApprovalStepUpReadFailureIsOurs: a product that requires two-step verification is
// approved by a person without a second factor, who is sent to set one up. When the factors
// cannot be read on the way, the answer is ours: never the sign-in again, which would ask for
// a factor the person does not have and say nothing of the outage.
func TestDeviceApprovalStepUpReadFailureIsOurs(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	const email = "tv2@example.com"
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
	p := e.decideDevice(b, e.authorizeDevice(c, "openid", nil).UserCode, "approve")
	if p.url.Path != "/account/security" || p.url.Query().Get("enrol") != "1" {
		t.Fatalf("approving without a second factor ended at %s, want its set-up", p.url)
	}
	for skip := 0; ; skip++ {
		p := e.enterCode(b, e.authorizeDevice(c, "openid", nil).UserCode)
		rule := fs.Add(faultstore.Rule{Method: "ListMFACredentials", Skip: skip, Times: 1, Err: faultstore.ErrInjected})
		p = b.decide(p, "approve")
		fs.Clear()
		if fs.Applied(rule) == 0 {
			if skip == 0 {
				t.Fatal("the approval read no factors")
			}
			break
		}
		if p.status != http.StatusServiceUnavailable && p.url.Path != "/account/security" {
			t.Errorf("call %d of ListMFACredentials failing: %d at %s, want our 503", skip+1, p.status, p.url)
		}
	}
}
