package server_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestHardening5RecoveryCodesNeedFreshSignIn (issue 10 item 4): replacing the recovery codes
// from a session older than 5 minutes is refused and leaves the old codes working; right
// after a fresh sign-in it works.
func TestHardening5RecoveryCodesNeedFreshSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.clock.Advance(0)
	const addr = "ada@example.com"
	e.addUser(addr)
	b := e.browser()
	e.passwordSignIn(b, addr)
	_, p := e.enrolTOTP(b, b.get(e.issuer+"/account/security"), "Phone")
	old := recoveryCodes(p)
	if len(old) != 10 {
		t.Fatalf("%d recovery codes after enrolment, want 10", len(old))
	}

	e.clock.Advance(6 * time.Minute)
	p = b.post(e.issuer+"/account/security/recovery-codes", url.Values{"csrf_token": {csrfOf(t, b.get(e.issuer+"/account/security"))}})
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "sign in again") || len(recoveryCodes(p)) != 0 {
		t.Fatalf("stale session replacing recovery codes: %d\n%.600s", p.status, p.body)
	}

	// A fresh sign-in with one of the old codes: they were not replaced.
	p = b.submitLogin(b.get(e.issuer+"/login?reauth=1&return=/account/security"), addr, testPassword)
	p = b.mfaPost(p, "recovery_code", old[0], false)
	mustAt(t, p, "/account/security")
	p = b.post(e.issuer+"/account/security/recovery-codes", url.Values{"csrf_token": {csrfOf(t, p)}})
	fresh := recoveryCodes(p)
	if len(fresh) != 10 || slices.Contains(fresh, old[1]) {
		t.Fatalf("fresh session replacing recovery codes: %d %s, %d codes\n%.600s", p.status, p.url, len(fresh), p.body)
	}
}

// TestHardening5CurrentPasswordCountsPerIP (issue 10 item 3): wrong current passwords on the
// account forms count towards the client IP's failures too, so guessing against one account
// (below its own lock) trips the address's limit for every other account.
func TestHardening5CurrentPasswordCountsPerIP(t *testing.T) {
	t.Parallel()
	const limit = 4
	e := newEnvWith(t, envOptions{configure: func(c *config.Config) { c.Accounts.FailuresPerIP = limit }})
	for _, a := range []string{"ada@example.com", "bob@example.com", "cy@example.com"} {
		e.addUser(a)
	}
	// Bob's session is copied (no device cookie) before the guessing starts.
	bob := e.browser()
	if p := e.passwordSignIn(bob, "bob@example.com"); !signedInPage(p) {
		t.Fatalf("bob's sign-in: %d %s", p.status, p.url)
	}
	bobThief := e.stealSession(bob)
	owner := e.browser()
	if p := e.passwordSignIn(owner, "ada@example.com"); !signedInPage(p) {
		t.Fatalf("ada's sign-in: %d %s", p.status, p.url)
	}
	thief := e.stealSession(owner)
	csrf := csrfOf(t, thief.get(e.issuer+"/account"))
	for i := range limit {
		p := thief.post(e.issuer+"/account/delete", url.Values{"csrf_token": {csrf}, "current": {"guess " + string(rune('a'+i))}})
		if !strings.Contains(p.body, "current password is incorrect") {
			t.Fatalf("guess %d: %d %.300s", i+1, p.status, p.body)
		}
	}
	// Ada's own count is below its lock (5); the address's is at its limit. Another account
	// signing in from this address is refused even with the right password...
	other := e.browser()
	if p := e.passwordSignIn(other, "cy@example.com"); p.status != http.StatusTooManyRequests || signedInPage(p) {
		t.Errorf("sign-in of another account from the address after %d wrong current passwords: %d %s", limit, p.status, p.url)
	}
	// ...and so is the right current password on another account's form.
	pw := "bob's brand new passphrase"
	p := bobThief.post(e.issuer+"/account/password", url.Values{"csrf_token": {csrfOf(t, bobThief.get(e.issuer+"/account"))},
		"current": {testPassword}, "password": {pw}, "confirm": {pw}})
	if p.status != http.StatusTooManyRequests || !strings.Contains(p.body, "Too many requests") {
		t.Errorf("bob's right current password from the address at its limit: %d %.300s", p.status, p.body)
	}
}

// TestHardening5IssOnHintAndRepeatErrors (issue 10 item 17): the authorization errors made for
// a bad id_token_hint and for a repeated response_type reach the client with iss (RFC 9207).
func TestHardening5IssOnHintAndRepeatErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	base := func() url.Values {
		return url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {c.Redirect}, "scope": {"openid"},
			"state": {"st"}}
	}
	for _, tc := range []struct {
		name string
		q    func() url.Values
	}{
		{"garbage id_token_hint", func() url.Values { q := base(); q.Set("id_token_hint", "not.a.token"); return q }},
		{"garbage id_token_hint, prompt=none", func() url.Values {
			q := base()
			q.Set("id_token_hint", "not.a.token")
			q.Set("prompt", "none")
			return q
		}},
		{"repeated response_type", func() url.Values { q := base(); q.Add("response_type", "code"); return q }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.signedInBrowser("ada@example.com")
			res := redirectResult(t, b.get(e.issuer+"/authorize?"+tc.q().Encode()), c.Redirect)
			if res.err == "" || res.code != "" || res.iss != e.issuer {
				t.Errorf("error %q code %q iss %q, want an error with iss %q and no code", res.err, res.code, res.iss, e.issuer)
			}
		})
	}
}

// TestHardening5ClientFailuresLogged (issue 10 item 14): failed authentications of one client
// id are logged from the 20th in the window, naming the client (a client is never locked).
func TestHardening5ClientFailuresLogged(t *testing.T) {
	t.Parallel()
	e, logs := newLoggedEnv(t, nil)
	c := e.addClient(storage.ClientConfidential, firstParty)
	const line = "repeated failed authentication of a client"
	fail := func() {
		t.Helper()
		st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {"x"},
			"redirect_uri": {c.Redirect}}, c.ID, "wrong secret")
		if st != http.StatusUnauthorized {
			t.Fatalf("wrong secret: %d %s", st, body)
		}
	}
	for range 19 {
		fail()
	}
	if strings.Contains(logs.String(), line) {
		t.Fatalf("logged before the 20th failure:\n%s", logs.String())
	}
	fail()
	got := logs.String()
	if !strings.Contains(got, line) || !strings.Contains(got, "client_id="+c.ID) || !strings.Contains(got, "failures=20") {
		t.Errorf("no log line naming the client after 20 failures:\n%s", got)
	}
	if strings.Contains(got, "wrong secret") {
		t.Error("the log shows the secret that was tried")
	}
}

// TestHardening5ReadyzFollowsTheDatabase (issue 9): /readyz answers 503 naming the failed check
// (not its cause) while the database refuses (Ping fails at once, unlike the stalled case of
// TestStalledDatabaseAnswers503Fast), /healthz stays 200, and /readyz is 200 again after.
func TestHardening5ReadyzFollowsTheDatabase(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	get := func(path string) (int, http.Header, string) {
		t.Helper()
		resp, err := http.Get(e.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}
	if st, _, body := get("/readyz"); st != http.StatusOK {
		t.Fatalf("/readyz before: %d %s", st, body)
	}
	fs.Add(faultstore.Rule{Method: "Ping", Err: errors.New("connection refused by 10.0.0.9:5432")})
	st, hdr, body := get("/readyz")
	if st != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || !strings.Contains(body, `"database":"fail"`) {
		t.Errorf("/readyz with the database down: %d (Retry-After %q) %s", st, hdr.Get("Retry-After"), body)
	}
	if strings.Contains(body, "10.0.0.9") || strings.Contains(body, "refused") {
		t.Errorf("/readyz shows the cause: %s", body)
	}
	if st, _, _ := get("/healthz"); st != http.StatusOK {
		t.Errorf("/healthz with the database down: %d, want 200", st)
	}
	fs.Clear()
	if st, _, body := get("/readyz"); st != http.StatusOK || !strings.Contains(body, `"database":"ok"`) {
		t.Errorf("/readyz after the database is back: %d %s", st, body)
	}
}
