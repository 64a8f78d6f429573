package server_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestNewRecoveryCodesSurviveOurFailure: new recovery codes (the old set already stopped
// working) are shown once; when the page that shows them meets a failure of ours, it answers
// our 503 and the codes are still shown when it is loaded again. Before, the one showing was
// used up (its nonce counted, its cookie cleared) by a page that showed no codes, or that our
// 503 replaced: the person never saw the codes that replaced theirs.
func TestNewRecoveryCodesSurviveOurFailure(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	e.clock.Advance(0)
	const email = "codes.shown@example.com"
	e.addUser(email)
	b := e.browser()
	e.passwordSignIn(b, email)
	e.enrolTOTP(b, b.get(e.issuer+"/account/security"), "")
	csrf := b.get(e.issuer + "/account/security").formValues().Get("csrf_token")

	// The form, without following its redirect to the page that shows the codes.
	stay := &http.Client{Jar: b.c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := stay.PostForm(e.issuer+"/account/security/recovery-codes", url.Values{"csrf_token": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	show := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || show == "" {
		t.Fatalf("new codes: %d to %q, want 303 to the page that shows them", resp.StatusCode, show)
	}
	show = e.issuer + show

	for _, m := range []string{"ListMFACredentials", "CountRecoveryCodes", "HitCounter"} {
		rule := fs.Add(faultstore.Rule{Method: m, Times: 1, Err: faultstore.ErrInjected})
		got := b.get(show)
		fs.Clear()
		if fs.Applied(rule) == 0 {
			t.Fatalf("the page made no %s call: the test tests nothing", m)
		}
		if !is503(got) {
			t.Errorf("%s failing: %d with %d codes, want our 503", m, got.status, len(recoveryCodes(got)))
		}
	}
	if p := b.get(show); len(recoveryCodes(p)) != 10 {
		t.Fatalf("after our failures the page shows %d codes, want the 10 new ones\n%.1500s", len(recoveryCodes(p)), p.body)
	}
	if p := b.get(show); len(recoveryCodes(p)) != 0 {
		t.Errorf("the codes were shown a second time")
	}
}
