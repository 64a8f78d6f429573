package server_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// consoleStaff signs a person with role in through the real pages with password and
// authenticator app (set up through the security page), so the session carries MFA. It
// returns the browser and the app's key.
func (e *testEnv) consoleStaff(email, role string) (*browser, *storage.User, []byte) {
	e.t.Helper()
	u := e.addUser(email)
	if err := e.store.GrantRole(context.Background(), u.ID, role, e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
	b := e.browser()
	e.passwordSignIn(b, email)
	key, _ := e.enrolTOTP(b, b.get(e.issuer+"/account/security"), "Staff phone")
	e.signOut(b)
	e.nextTOTPStep()
	p := b.mfaPost(e.passwordSignIn(b, email), "totp", e.totpNow(key), false)
	mustAt(e.t, p, "/account")
	return b, u, key
}

// formAt returns the hidden fields of the form posting to action on p.
func formAt(t testing.TB, p *page, action string) url.Values {
	t.Helper()
	i := strings.Index(p.body, `action="`+action+`"`)
	if i < 0 {
		t.Fatalf("%s has no form posting to %s:\n%.3000s", p.url, action, p.body)
	}
	rest := p.body[i:]
	rest = rest[:strings.Index(rest, "</form>")]
	f := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(rest, -1) {
		f.Set(m[1], html.UnescapeString(m[2]))
	}
	return f
}

// TestConsoleAccess: the console is for staff with a second factor only. Signed out: to
// sign-in, returning to the console. No role: 403 and nothing more. A staff session without
// MFA (even in a remembered browser) gets the step-up page, which leads to enrolment when
// there is no factor, or to the second-factor page and back to the console.
func TestConsoleAccess(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.clock.Advance(0)

	anon := e.browser()
	p := anon.get(e.issuer + "/admin/users")
	if p.url.Path != "/login" || p.url.Query().Get("return") != "/admin/users" {
		t.Fatalf("signed out: ended at %s (%d)", p.url, p.status)
	}

	e.addUser("someone@example.com")
	other := e.browser()
	e.passwordSignIn(other, "someone@example.com")
	for _, path := range []string{"/admin", "/admin/users", "/admin/clients", "/admin/audit", "/admin/keys"} {
		p = other.get(e.issuer + path)
		if p.status != http.StatusForbidden || strings.Contains(p.body, "/admin/verify") || strings.Contains(p.body, "/admin/clients") {
			t.Fatalf("no role, %s: %d\n%.1500s", path, p.status, p.body)
		}
	}

	const email = "admin@example.com"
	u := e.addUser(email)
	if err := e.store.GrantRole(t.Context(), u.ID, storage.RoleAdmin, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	e.passwordSignIn(b, email)
	p = b.get(e.issuer + "/admin")
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "Verify with your second factor") || strings.Contains(p.body, `href="/admin/`) {
		t.Fatalf("admin without MFA: %d at %s\n%.2000s", p.status, p.url, p.body)
	}
	// No factor yet: the step-up leads to setting one up.
	p = b.post(e.issuer+"/admin/verify", formAt(t, p, "/admin/verify"))
	mustAt(t, p, "/account/security")
	if p.url.Query().Get("enrol") != "1" {
		t.Fatalf("step-up without a factor ended at %s", p.url)
	}
	key, _ := e.enrolTOTP(b, p, "Admin phone")

	// Remember this browser at the next sign-in; the one after skips the factor...
	e.signOut(b)
	e.nextTOTPStep()
	mustAt(t, b.mfaPost(e.passwordSignIn(b, email), "totp", e.totpNow(key), true), "/account")
	e.signOut(b)
	mustAt(t, e.passwordSignIn(b, email), "/account")
	// ...but not for the console.
	p = b.get(e.issuer + "/admin/users")
	if p.status != http.StatusForbidden || !strings.Contains(p.body, `action="/admin/verify"`) {
		t.Fatalf("remembered browser, password only: %d at %s\n%.1500s", p.status, p.url, p.body)
	}
	p = b.post(e.issuer+"/admin/verify", formAt(t, p, "/admin/verify"))
	e.nextTOTPStep()
	p = b.mfaPost(p, "totp", e.totpNow(key), false)
	mustAt(t, p, "/admin/users", "People", `href="/admin/clients"`, `href="/admin/keys"`, "admin@example.com")

	// A forged step-up (no CSRF token) is refused.
	if p := b.post(e.issuer+"/admin/verify", url.Values{}); p.status != http.StatusForbidden {
		t.Fatalf("step-up without CSRF token: %d", p.status)
	}
}

// TestConsoleSupportAndAdmin: support finds and unlocks people but never reaches clients or
// keys (no forms, and posts refused with 403); admins lock with a reason (audited with actor,
// reason and IP), a stale form is reported, not applied; CSRF is checked before anything;
// a rotated client secret is shown once on a no-store page.
func TestConsoleSupportAndAdmin(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.clock.Advance(0)
	ctx := t.Context()
	person := e.addUser("person@example.com")
	c := e.addClient(storage.ClientConfidential)

	adm, admUser, _ := e.consoleStaff("admin@example.com", storage.RoleAdmin)
	sup, supUser, _ := e.consoleStaff("support@example.com", storage.RoleSupport)

	// Support: search, detail with support actions only.
	p := sup.get(e.issuer + "/admin/users?email=person")
	mustAt(t, p, "/admin/users", `href="/admin/users/`+person.ID+`"`)
	if strings.Contains(p.body, `href="/admin/clients"`) || strings.Contains(p.body, `href="/admin/keys"`) || strings.Contains(p.body, `href="/admin/audit"`) {
		t.Fatalf("support's navigation offers admin sections:\n%.2000s", p.body)
	}
	p = sup.get(e.issuer + "/admin/users/" + person.ID)
	mustAt(t, p, "/admin/users/"+person.ID, `/send-reset"`, `/sign-out"`)
	for _, absent := range []string{`/lock"`, `/delete"`} {
		if strings.Contains(p.body, absent) {
			t.Fatalf("support sees the %s form", absent)
		}
	}
	supForm := formAt(t, p, "/admin/users/"+person.ID+"/sign-out")
	for _, path := range []string{"/admin/clients", "/admin/clients/" + c.ID, "/admin/keys", "/admin/audit"} {
		if p := sup.get(e.issuer + path); p.status != http.StatusForbidden || strings.Contains(p.body, `name="redirect_uris"`) || strings.Contains(p.body, "/rotate") {
			t.Fatalf("support GET %s: %d", path, p.status)
		}
	}
	for _, path := range []string{"/admin/clients", "/admin/clients/" + c.ID, "/admin/clients/" + c.ID + "/rotate", "/admin/keys/rotate",
		"/admin/users/" + person.ID + "/lock", "/admin/users/" + person.ID + "/delete"} {
		f := url.Values{"csrf_token": {supForm.Get("csrf_token")}, "reason": {"trying"}, "name": {"x"}, "type": {"public"}}
		if p := sup.post(e.issuer+path, f); p.status != http.StatusForbidden {
			t.Fatalf("support POST %s: %d\n%.1500s", path, p.status, p.body)
		}
	}
	if got, _ := e.store.GetClient(ctx, c.ID); got.Name == "x" {
		t.Fatal("support renamed a client")
	}
	if got, _ := e.store.GetUser(ctx, person.ID); got.Status != storage.UserActive {
		t.Fatalf("support's refused lock changed the account: %s", got.Status)
	}

	// Admin: the user page has the lock form with the ETag it was rendered with.
	p = adm.get(e.issuer + "/admin/users/" + person.ID)
	mustAt(t, p, "/admin/users/"+person.ID, `/lock"`, `/delete"`)
	lockForm := formAt(t, p, "/admin/users/"+person.ID+"/lock")
	if lockForm.Get("etag") == "" {
		t.Fatal("the lock form carries no ETag")
	}
	// CSRF first: no token, nothing happens.
	noCSRF := url.Values{"reason": {"fraud"}, "etag": {lockForm.Get("etag")}}
	if p := adm.post(e.issuer+"/admin/users/"+person.ID+"/lock", noCSRF); p.status != http.StatusForbidden {
		t.Fatalf("lock without CSRF token: %d", p.status)
	}
	// No reason: refused, nothing changed.
	f := url.Values{"csrf_token": {lockForm.Get("csrf_token")}, "etag": {lockForm.Get("etag")}}
	if p := adm.post(e.issuer+"/admin/users/"+person.ID+"/lock", f); p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "this field is required") {
		t.Fatalf("lock without a reason: %d\n%.1500s", p.status, p.body)
	}
	// Changed meanwhile (by someone else): the stale form is reported, not applied.
	if _, err := e.store.UpdateUser(ctx, person.ID, func(u *storage.User) error {
		u.UpdatedAt = e.clock.Now().Add(1e9)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.Set("reason", "fraud report 42")
	p = adm.post(e.issuer+"/admin/users/"+person.ID+"/lock", f)
	if p.status != http.StatusConflict || !strings.Contains(p.body, "Someone changed this") {
		t.Fatalf("stale lock: %d\n%.1500s", p.status, p.body)
	}
	if got, _ := e.store.GetUser(ctx, person.ID); got.Status != storage.UserActive {
		t.Fatal("a stale form locked the account")
	}
	p = adm.get(e.issuer + "/admin/users/" + person.ID)
	f = formAt(t, p, "/admin/users/"+person.ID+"/lock")
	f.Set("reason", "fraud report 42")
	p = adm.post(e.issuer+"/admin/users/"+person.ID+"/lock", f)
	mustAt(t, p, "/admin/users/"+person.ID, "The account was locked", "fraud report 42", "(admin@example.com, ", `/unlock"`)
	if got, _ := e.store.GetUser(ctx, person.ID); got.Status != storage.UserLocked {
		t.Fatalf("status after lock: %s", got.Status)
	}
	evs, err := e.store.QueryAuditEvents(ctx, storage.AuditQuery{Type: "admin.user.lock", Limit: 5})
	if err != nil || len(evs) != 1 || evs[0].Actor != "user:"+admUser.ID || evs[0].Reason != "fraud report 42" ||
		evs[0].Target != "user:"+person.ID || evs[0].IP != "127.0.0.1" {
		t.Fatalf("lock audit: %+v %v", evs, err)
	}
	p = adm.get(e.issuer + "/admin/audit?type=admin.user.lock")
	mustAt(t, p, "/admin/audit", "fraud report 42", "user:"+admUser.ID)

	// Support unlocks with a reason.
	p = sup.get(e.issuer + "/admin/users/" + person.ID)
	f = formAt(t, p, "/admin/users/"+person.ID+"/unlock")
	f.Set("reason", "identity confirmed by phone")
	p = sup.post(e.issuer+"/admin/users/"+person.ID+"/unlock", f)
	mustAt(t, p, "/admin/users/"+person.ID, "The account was unlocked")
	if got, _ := e.store.GetUser(ctx, person.ID); got.Status != storage.UserActive {
		t.Fatalf("status after unlock: %s", got.Status)
	}

	// Admin: the client page has the edit and rotate forms; the new secret is shown once.
	p = adm.get(e.issuer + "/admin/clients/" + c.ID)
	mustAt(t, p, "/admin/clients/"+c.ID, `name="redirect_uris"`, `/rotate"`)
	if strings.Contains(p.body, c.Secret) {
		t.Fatal("the client page shows the secret")
	}
	p = adm.post(e.issuer+"/admin/clients/"+c.ID+"/rotate", formAt(t, p, "/admin/clients/"+c.ID+"/rotate"))
	mustAt(t, p, "/admin/clients/"+c.ID+"/rotate", `id="client-secret"`)
	if cc := p.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Fatalf("secret page Cache-Control %q", cc)
	}
	m := regexp.MustCompile(`id="client-secret" class="secret">([^<]+)<`).FindStringSubmatch(p.body)
	if m == nil || m[1] == c.Secret {
		t.Fatalf("no new secret on the page:\n%.2000s", p.body)
	}
	code, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, c.Secret)
	if code != http.StatusUnauthorized && code != http.StatusBadRequest {
		t.Fatalf("old secret after rotation: %d %s", code, body)
	}
	p = adm.get(e.issuer + "/admin/clients/" + c.ID)
	if strings.Contains(p.body, m[1]) {
		t.Fatal("the new secret is shown a second time")
	}
	// Edit the redirect URIs with the ETag; a form rendered before that change (another tab)
	// is stale and reported. (The same form sent again is its own repeat: saved once.)
	stale := formAt(t, adm.get(e.issuer+"/admin/clients/"+c.ID), "/admin/clients/"+c.ID)
	edit := formAt(t, p, "/admin/clients/"+c.ID)
	edit.Set("name", "Renamed app")
	edit.Set("redirect_uris", "https://app.example/cb\nhttps://app.example/cb2")
	p = adm.post(e.issuer+"/admin/clients/"+c.ID, edit)
	mustAt(t, p, "/admin/clients/"+c.ID, "The client was saved.", "https://app.example/cb2", "Renamed app")
	mustAt(t, adm.post(e.issuer+"/admin/clients/"+c.ID, edit), "/admin/clients/"+c.ID, "The client was saved.", "Renamed app")
	stale.Set("name", "Other name")
	if p := adm.post(e.issuer+"/admin/clients/"+c.ID, stale); p.status != http.StatusConflict || !strings.Contains(p.body, "Someone changed this") {
		t.Fatalf("stale client edit: %d", p.status)
	}
	// Keys: listed and rotated with a reason.
	p = adm.get(e.issuer + "/admin/keys")
	mustAt(t, p, "/admin/keys", "RS256")
	kf := formAt(t, p, "/admin/keys/rotate")
	kf.Set("reason", "yearly rotation")
	mustAt(t, adm.post(e.issuer+"/admin/keys/rotate", kf), "/admin/keys", "New signing keys are in use.")

	// A new confidential client: its secret is shown once; a bad redirect URI is reported by
	// field, nothing created.
	p = adm.get(e.issuer + "/admin/clients")
	cf := formAt(t, p, "/admin/clients")
	cf.Set("name", "Billing")
	cf.Set("type", storage.ClientConfidential)
	cf.Set("redirect_uris", "http://billing.example/cb")
	p = adm.post(e.issuer+"/admin/clients", cf)
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "Redirect URIs") || !strings.Contains(p.body, "http://billing.example/cb") {
		t.Fatalf("client with an http redirect URI: %d\n%.2000s", p.status, p.body)
	}
	cf.Set("redirect_uris", "https://billing.example/cb")
	p = adm.post(e.issuer+"/admin/clients", cf)
	mustAt(t, p, "/admin/clients", `id="client-secret"`, "Billing")
	if !strings.Contains(p.header.Get("Cache-Control"), "no-store") {
		t.Fatal("the new client's secret page may be stored")
	}

	// Removing a person's second factors (the support agent's, here): every one goes.
	p = adm.get(e.issuer + "/admin/users/" + supUser.ID)
	rf := formAt(t, p, "/admin/users/"+supUser.ID+"/remove-factors")
	rf.Set("reason", "lost phone, identity checked")
	rf.Set("kind", "")
	mustAt(t, adm.post(e.issuer+"/admin/users/"+supUser.ID+"/remove-factors", rf), "/admin/users/"+supUser.ID,
		"The second factors were removed.", "No second factor is set up.")
	if got := e.factors(supUser.ID); len(got) != 0 {
		t.Fatalf("factors left: %+v", got)
	}
}

// TestConsoleActions: the other actions on a person, each with its reason in the audit log,
// and the audit log's filters (actor, type, time range in the viewer's zone) and paging.
func TestConsoleActions(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.clock.Advance(0)
	ctx := t.Context()
	adm, admUser, _ := e.consoleStaff("admin@example.com", storage.RoleAdmin)
	person := e.addUser("person@example.com")
	pb := e.browser()
	mustAt(t, e.passwordSignIn(pb, "person@example.com"), "/account")

	act := func(action, reason string) *page {
		t.Helper()
		p := adm.get(e.issuer + "/admin/users/" + person.ID)
		f := formAt(t, p, "/admin/users/"+person.ID+"/"+action)
		f.Set("reason", reason)
		return adm.post(e.issuer+"/admin/users/"+person.ID+"/"+action, f)
	}
	mustAt(t, act("send-reset", "asked by phone"), "/admin/users/"+person.ID, "A password reset link was sent.")
	if m := e.smtp.WaitFor(t, "person@example.com", mailWait); !strings.Contains(m.Text, "/reset?token=") {
		t.Fatalf("reset mail: %q\n%s", m.Subject, m.Text)
	}
	mustAt(t, act("sign-out", "lost laptop"), "/admin/users/"+person.ID, "The person was signed out everywhere.", "Not signed in anywhere.")
	if p := pb.get(e.issuer + "/account"); p.url.Path != "/login" {
		t.Fatalf("the person's browser after sign-out everywhere: %s", p.url)
	}

	// The audit log: by actor and type, and a time range read in the viewer's zone (London).
	p := adm.get(e.issuer + "/admin/audit?actor=user:" + admUser.ID + "&type=admin.user.sign_out_everywhere")
	mustAt(t, p, "/admin/audit", "lost laptop", "Signed out everywhere by staff")
	if strings.Contains(p.body, "asked by phone") {
		t.Fatal("the type filter lets another type through")
	}
	london, _ := time.LoadLocation("Europe/London")
	before := e.clock.Now().In(london).Add(-time.Hour).Format("2006-01-02T15:04")
	after := e.clock.Now().In(london).Add(time.Hour).Format("2006-01-02T15:04")
	p = adm.get(e.issuer + "/admin/audit?actor=user:" + admUser.ID + "&since=" + url.QueryEscape(after))
	mustAt(t, p, "/admin/audit", "No event matches.")
	p = adm.get(e.issuer + "/admin/audit?actor=user:" + admUser.ID + "&since=" + url.QueryEscape(before) + "&until=" + url.QueryEscape(after))
	mustAt(t, p, "/admin/audit", "lost laptop", "asked by phone")
	if p := adm.get(e.issuer + "/admin/audit?since=yesterday"); p.status != http.StatusUnprocessableEntity {
		t.Fatalf("a bad time: %d", p.status)
	}
	// Paging: more events than a page, each shown once.
	for i := range 55 {
		if err := e.store.AddAuditEvent(ctx, &storage.AuditEvent{Type: "admin.user.unlock", Actor: "cli", Target: "user:" + person.ID,
			Reason: fmt.Sprintf("bulk %02d", i), CreatedAt: e.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	next := "/admin/audit?actor=cli"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		p = adm.get(e.issuer + html.UnescapeString(next))
		mustAt(t, p, "/admin/audit")
		for _, m := range regexp.MustCompile(`bulk \d\d`).FindAllString(p.body, -1) {
			if seen[m] {
				t.Fatalf("%s shown twice", m)
			}
			seen[m] = true
		}
		next = ""
		if m := regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(p.body); m != nil {
			next = m[1]
		}
	}
	if len(seen) != 55 {
		t.Fatalf("%d of 55 events seen across the pages", len(seen))
	}

	mustAt(t, act("delete", "asked to be forgotten"), "/admin/users", "The account was deleted.")
	if _, err := e.store.GetUser(ctx, person.ID); err == nil {
		t.Fatal("the account still exists")
	}
}
