package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/storage"
)

// The admin API end to end (issue 13): the real server, real tokens from its own token
// endpoint, a real SQLite store.

const adminAPI = "/admin/api/v1"

// apiAnswer is one admin API response.
type apiAnswer struct {
	status int
	header http.Header
	body   string
}

func (a apiAnswer) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(a.body), v); err != nil {
		t.Fatalf("answer %d is not JSON: %v\n%s", a.status, err, a.body)
	}
}

// problem checks an RFC 9457 answer and returns its type.
func (a apiAnswer) problem(t *testing.T, status int) string {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json (%s)", ct, a.body)
	}
	var p struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
	}
	a.json(t, &p)
	if p.Status != status || p.Type == "" || p.Title == "" {
		t.Fatalf("problem document %s", a.body)
	}
	return p.Type
}

// call makes an admin API request with a bearer token ("" for none) and extra headers.
func (e *testEnv) call(t *testing.T, method, path, token string, body any, headers ...string) apiAnswer {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, e.addr+adminAPI+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiAnswer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// automation registers a confidential client_credentials client allowed the given scopes and
// returns a token asking for all of them.
func (e *testEnv) automation(t *testing.T, scopes ...string) (*testClient, string) {
	t.Helper()
	c := e.addClient(storage.ClientConfidential, withGrants("client_credentials"), func(c *storage.Client) { c.Scopes = scopes })
	return c, e.scopedToken(t, c, scopes...)
}

func (e *testEnv) scopedToken(t *testing.T, c *testClient, scopes ...string) string {
	t.Helper()
	st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {strings.Join(scopes, " ")}}, c.ID, c.Secret)
	if st != 200 {
		t.Fatalf("client_credentials: %d %s", st, body)
	}
	return jsonFieldT(t, body, "access_token")
}

// personToken signs email in through a first-party console client allowed every admin scope
// and returns the person's access token. The sign-in proves a second factor (password and an
// authenticator app, set up on first use; later tokens come from that browser's session), as
// a person's roles count only from one.
func (e *testEnv) personToken(t *testing.T, email string) string {
	t.Helper()
	id := e.issuer + " " + email
	b, ok := staffBrowsers.Load(id)
	if !ok {
		nb := e.browser()
		e.passwordSignIn(nb, email)
		key, _ := e.enrolTOTP(nb, nb.get(e.issuer+"/account/security"), "Staff phone")
		e.signOut(nb)
		e.nextTOTPStep()
		mustAt(t, nb.mfaPost(e.passwordSignIn(nb, email), "totp", e.totpNow(key), false), "/account")
		staffBrowsers.Store(id, nb)
		b = nb
	}
	return e.personTokenIn(t, b.(*browser), email)
}

// staffBrowsers are personToken's signed-in browsers, by issuer and address.
var staffBrowsers sync.Map

// personTokenIn is personToken's authorization in browser b: through its session, or with the
// password alone when b has none (an account without a second factor).
func (e *testEnv) personTokenIn(t *testing.T, b *browser, email string) string {
	t.Helper()
	c := e.addClient(storage.ClientConfidential, firstParty, func(c *storage.Client) { c.Scopes = admin.AllScopes })
	cfg := e.oauth2Config(c, append([]string{"openid"}, admin.AllScopes...)...)
	verifier, _ := pkce()
	p := b.get(cfg.AuthCodeURL("st4te-1234", oauth2.S256ChallengeOption(verifier)))
	if strings.Contains(p.body, `action="/login"`) {
		p = b.submitLogin(p, email, testPassword)
	}
	res := redirectResult(t, p, c.Redirect)
	if res.code == "" {
		t.Fatalf("no code: %q", res.err)
	}
	tok, err := cfg.Exchange(context.Background(), res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

func TestAdminAPIAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// No token: 401 with a challenge, in problem+json.
	a := e.call(t, "GET", "/users", "", nil)
	a.problem(t, 401)
	if !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("WWW-Authenticate = %q", a.header.Get("WWW-Authenticate"))
	}
	// A token that is not ours.
	a = e.call(t, "GET", "/users", "eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo", nil)
	a.problem(t, 401)
	if !strings.Contains(a.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("WWW-Authenticate = %q", a.header.Get("WWW-Authenticate"))
	}
	// A live token without any admin scope.
	plain := e.addClient(storage.ClientConfidential, withGrants("client_credentials"), func(c *storage.Client) { c.Scopes = []string{"api.read"} })
	a = e.call(t, "GET", "/users", e.scopedToken(t, plain, "api.read"), nil)
	a.problem(t, 403)
	if !strings.Contains(a.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Fatalf("WWW-Authenticate = %q", a.header.Get("WWW-Authenticate"))
	}
	// A client not registered for admin:write cannot mint it: the token server drops the
	// scope, and the API refuses.
	st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"admin:write"}}, plain.ID, plain.Secret)
	if st == 200 {
		tok := jsonFieldT(t, body, "access_token")
		if scope, _ := jwtPayload(t, tok)["scope"].(string); strings.Contains(scope, "admin") {
			t.Fatalf("an unregistered client got %q", scope)
		}
		e.call(t, "POST", "/clients", tok, map[string]any{"name": "x", "type": "public"}).problem(t, 403)
	}
	// support cannot change (or even list) clients; admin:read cannot write.
	_, support := e.automation(t, admin.ScopeSupport)
	e.call(t, "GET", "/clients", support, nil).problem(t, 403)
	e.call(t, "POST", "/clients", support, map[string]any{"name": "Evil", "type": "public", "redirect_uris": []string{"https://e.example/cb"}}).problem(t, 403)
	e.call(t, "POST", "/clients/some-id/rotate-secret", support, nil).problem(t, 403)
	e.call(t, "GET", "/audit-events", support, nil).problem(t, 403)
	if a := e.call(t, "GET", "/users", support, nil); a.status != 200 {
		t.Fatalf("support search: %d %s", a.status, a.body)
	}
	_, reader := e.automation(t, admin.ScopeRead)
	e.call(t, "DELETE", "/clients/x", reader, nil, "If-Match", `"x"`).problem(t, 403)
	// A person's token: the admin scopes count only through the account's roles.
	staff := e.addUser("staff@example.com")
	tok := e.personToken(t, staff.Email)
	e.call(t, "GET", "/users", tok, nil).problem(t, 403)
	if err := e.store.GrantRole(context.Background(), staff.ID, storage.RoleSupport, time.Now()); err != nil {
		t.Fatal(err)
	}
	if a := e.call(t, "GET", "/users", tok, nil); a.status != 200 {
		t.Fatalf("support person search: %d %s", a.status, a.body)
	}
	e.call(t, "GET", "/clients", tok, nil).problem(t, 403)
	// A token from a sign-in with the password alone gives the roles nothing: staff act
	// only after a second factor, as in the console, and the client is told to sign the
	// person in again at that level (RFC 9470), not that the token is bad.
	weak := e.addUser("weak@example.com")
	if err := e.store.GrantRole(context.Background(), weak.ID, storage.RoleAdmin, time.Now()); err != nil {
		t.Fatal(err)
	}
	wt := e.personTokenIn(t, e.browser(), weak.Email)
	for _, path := range []string{"/users", "/clients", "/users/" + staff.ID} {
		a := e.call(t, "GET", path, wt, nil)
		a.problem(t, 401)
		if h := a.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="insufficient_user_authentication"`) ||
			!strings.Contains(h, `acr_values="`+mfa.ACRMFA+`"`) {
			t.Errorf("%s with a password-only admin's token: WWW-Authenticate %q", path, h)
		}
	}
	// Revoked: 401 at once.
	robot, rt := e.automation(t, admin.ScopeRead)
	revoke(t, e, robot, rt)
	e.call(t, "GET", "/users", rt, nil).problem(t, 401)
	// Unknown routes and methods answer problem+json too.
	_, writer := e.automation(t, admin.ScopeWrite)
	e.call(t, "GET", "/nothing-here", writer, nil).problem(t, 404)
	e.call(t, "PUT", "/users", writer, nil).problem(t, 405)
	// The document is served without a token.
	doc := e.call(t, "GET", "/openapi.yaml", "", nil)
	if doc.status != 200 || !strings.HasPrefix(doc.body, "openapi: 3.") {
		t.Fatalf("openapi: %d %.40s", doc.status, doc.body)
	}
}

func TestAdminAPIClients(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, tok := e.automation(t, admin.ScopeWrite)
	bad := e.call(t, "POST", "/clients", tok, map[string]any{"name": "", "type": "spaceship"})
	bad.problem(t, 422)
	if !strings.Contains(bad.body, `"name":"type"`) || !strings.Contains(bad.body, `"name":"name"`) {
		t.Fatalf("validation problem lacks fields: %s", bad.body)
	}
	e.call(t, "POST", "/clients", tok, map[string]any{"name": "x", "colour": "red"}).problem(t, 400)

	a := e.call(t, "POST", "/clients", tok, map[string]any{"name": "Billing robot", "type": "confidential",
		"grant_types": []string{"client_credentials"}, "scopes": []string{"api.read"}})
	if a.status != 201 || a.header.Get("ETag") == "" || !strings.HasPrefix(a.header.Get("Location"), adminAPI+"/clients/") {
		t.Fatalf("create: %d %v %s", a.status, a.header, a.body)
	}
	var created struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	a.json(t, &created)
	if created.ClientSecret == "" {
		t.Fatal("no secret on create")
	}
	robot := &testClient{ID: created.ClientID, Secret: created.ClientSecret}
	e.scopedToken(t, robot, "api.read") // the secret works

	// Paging: one client a page, every client once, with a Link to the next.
	seen := map[string]bool{}
	path := "/clients?limit=1"
	for range 10 {
		p := e.call(t, "GET", path, tok, nil)
		var pg struct {
			Items []admin.Client `json:"items"`
			Next  string         `json:"next"`
		}
		p.json(t, &pg)
		for _, c := range pg.Items {
			if seen[c.ClientID] {
				t.Fatalf("client %s twice", c.ClientID)
			}
			seen[c.ClientID] = true
		}
		if pg.Next == "" {
			break
		}
		if !strings.Contains(p.header.Get("Link"), `rel="next"`) {
			t.Fatalf("no Link header with next %q", pg.Next)
		}
		path = "/clients?limit=1&cursor=" + url.QueryEscape(pg.Next)
	}
	if len(seen) != 2 || !seen[created.ClientID] {
		t.Fatalf("paged clients: %v", seen)
	}
	e.call(t, "GET", "/clients?cursor=bogus", tok, nil).problem(t, 422)

	show := e.call(t, "GET", "/clients/"+created.ClientID, tok, nil)
	etag := show.header.Get("ETag")
	if show.status != 200 || etag == "" || strings.Contains(show.body, "secret") {
		t.Fatalf("show: %d %q %s", show.status, etag, show.body)
	}
	patch := map[string]any{"name": "Billing robot v2"}
	e.call(t, "PATCH", "/clients/"+created.ClientID, tok, patch).problem(t, 428)
	e.call(t, "PATCH", "/clients/"+created.ClientID, tok, patch, "If-Match", `"0000"`).problem(t, 412)
	up := e.call(t, "PATCH", "/clients/"+created.ClientID, tok, patch, "If-Match", etag)
	if up.status != 200 || up.header.Get("ETag") == etag || !strings.Contains(up.body, "Billing robot v2") {
		t.Fatalf("patch: %d %s", up.status, up.body)
	}
	e.call(t, "PATCH", "/clients/"+created.ClientID, tok, patch, "If-Match", etag).problem(t, 412)

	rot := e.call(t, "POST", "/clients/"+created.ClientID+"/rotate-secret", tok, nil)
	var rotated struct {
		ClientSecret string `json:"client_secret"`
	}
	rot.json(t, &rotated)
	if rot.status != 200 || rotated.ClientSecret == "" || rotated.ClientSecret == created.ClientSecret {
		t.Fatalf("rotate: %d %s", rot.status, rot.body)
	}
	if st, _, _ := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, robot.ID, robot.Secret); st != 401 {
		t.Fatalf("old secret after rotation: %d", st)
	}
	robot.Secret = rotated.ClientSecret
	e.scopedToken(t, robot, "api.read")
	pub := e.addClient(storage.ClientPublic)
	e.call(t, "POST", "/clients/"+pub.ID+"/rotate-secret", tok, nil).problem(t, 409)

	e.call(t, "DELETE", "/clients/"+created.ClientID, tok, nil).problem(t, 428)
	e.call(t, "DELETE", "/clients/"+created.ClientID, tok, nil, "If-Match", etag).problem(t, 412)
	cur := e.call(t, "GET", "/clients/"+created.ClientID, tok, nil).header.Get("ETag")
	if a := e.call(t, "DELETE", "/clients/"+created.ClientID, tok, nil, "If-Match", cur); a.status != 204 {
		t.Fatalf("delete: %d %s", a.status, a.body)
	}
	e.call(t, "GET", "/clients/"+created.ClientID, tok, nil).problem(t, 404)

	// Every change is in the audit log, naming the robot that made it.
	var trail struct {
		Items []admin.AuditEntry `json:"items"`
	}
	e.call(t, "GET", "/audit-events?target="+url.QueryEscape("client:"+created.ClientID), tok, nil).json(t, &trail)
	types := map[string]bool{}
	for _, ev := range trail.Items {
		types[ev.Type] = true
		if !strings.HasPrefix(ev.Actor, "client:") || ev.IP != "127.0.0.1" {
			t.Errorf("event %+v lacks the actor or IP", ev)
		}
	}
	for _, want := range []string{"admin.client.create", "admin.client.update", "admin.client.rotate_secret", "admin.client.delete"} {
		if !types[want] {
			t.Errorf("no %s in %v", want, types)
		}
	}
}

func TestAdminAPIUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	_, adminTok := e.automation(t, admin.ScopeWrite, admin.ScopeRead)
	supportPerson := e.addUser("desk@example.com")
	if err := e.store.GrantRole(ctx, supportPerson.ID, storage.RoleSupport, time.Now()); err != nil {
		t.Fatal(err)
	}
	support := e.personToken(t, supportPerson.Email)
	ada := e.addUser("ada@example.com")
	for _, m := range []string{"b1", "b2", "b3"} {
		e.addUser(m + "@bulk.example")
	}

	// Search, paged.
	var pg struct {
		Items []admin.User `json:"items"`
		Next  string       `json:"next"`
	}
	e.call(t, "GET", "/users?email_prefix=b&limit=2", support, nil).json(t, &pg)
	if len(pg.Items) != 2 || pg.Next == "" {
		t.Fatalf("first page: %+v", pg)
	}
	first := pg.Items
	cursor := pg.Next
	pg.Next, pg.Items = "", nil
	e.call(t, "GET", "/users?email_prefix=b&limit=2&cursor="+url.QueryEscape(cursor), support, nil).json(t, &pg)
	if len(pg.Items) != 1 || pg.Next != "" || pg.Items[0].ID == first[0].ID || pg.Items[0].ID == first[1].ID {
		t.Fatalf("second page: %+v", pg)
	}
	e.call(t, "GET", "/users?status=sleepy", support, nil).problem(t, 422)

	// Lock (admin only, reason required): the person cannot sign in.
	e.call(t, "POST", "/users/"+ada.ID+"/lock", support, map[string]string{"reason": "x"}).problem(t, 403)
	e.call(t, "POST", "/users/"+ada.ID+"/lock", adminTok, map[string]string{}).problem(t, 422)
	lk := e.call(t, "POST", "/users/"+ada.ID+"/lock", adminTok, map[string]string{"reason": "suspicious payouts"})
	if lk.status != 200 || !strings.Contains(lk.body, `"status":"locked"`) {
		t.Fatalf("lock: %d %s", lk.status, lk.body)
	}
	app := e.addClient(storage.ClientConfidential, firstParty)
	b := e.browser()
	p := b.get(e.oauth2Config(app).AuthCodeURL("s1234567"))
	if p = b.submitLogin(p, ada.Email, testPassword); p.status == http.StatusFound || p.status == http.StatusSeeOther {
		t.Fatalf("a locked person signed in: %d %v", p.status, p.location())
	}
	var detail admin.UserDetail
	show := e.call(t, "GET", "/users/"+ada.ID, support, nil)
	show.json(t, &detail)
	if !detail.Lock.Locked || detail.Lock.Reason != "suspicious payouts" || show.header.Get("ETag") == "" {
		t.Fatalf("detail: %s", show.body)
	}
	// Support unlocks; the person signs in.
	e.call(t, "POST", "/users/"+ada.ID+"/unlock", support, map[string]string{"reason": "owner verified"}, "If-Match", `"stale"`).problem(t, 412)
	un := e.call(t, "POST", "/users/"+ada.ID+"/unlock", support, map[string]string{"reason": "owner verified"}, "If-Match", show.header.Get("ETag"))
	if un.status != 200 || !strings.Contains(un.body, `"status":"active"`) {
		t.Fatalf("unlock: %d %s", un.status, un.body)
	}
	tok := e.tokens(ctx, e.browser(), app, ada.Email)
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token after unlock")
	}
	var unlockEv struct {
		Items []admin.AuditEntry `json:"items"`
	}
	e.call(t, "GET", "/audit-events?type=admin.user.unlock&target="+url.QueryEscape("user:"+ada.ID), adminTok, nil).json(t, &unlockEv)
	if len(unlockEv.Items) != 1 || unlockEv.Items[0].Actor != "user:"+supportPerson.ID || unlockEv.Items[0].Reason != "owner verified" || unlockEv.Items[0].IP != "127.0.0.1" {
		t.Fatalf("unlock audit: %+v", unlockEv.Items)
	}

	// Support actions.
	pending := e.addUser("new@example.com")
	if _, err := e.store.UpdateUser(ctx, pending.ID, func(u *storage.User) error { u.Status, u.ActivatedAt = storage.UserPending, nil; return nil }); err != nil {
		t.Fatal(err)
	}
	if a := e.call(t, "POST", "/users/"+pending.ID+"/resend-activation", support, nil); a.status != 204 {
		t.Fatalf("resend: %d %s", a.status, a.body)
	}
	e.call(t, "POST", "/users/"+ada.ID+"/resend-activation", support, nil).problem(t, 409)
	if a := e.call(t, "POST", "/users/"+ada.ID+"/send-reset", support, map[string]string{"reason": "forgot"}); a.status != 204 {
		t.Fatalf("reset: %d %s", a.status, a.body)
	}
	if err := e.store.CreateMFACredential(ctx, &storage.MFACredential{ID: "f1", UserID: ada.ID, Kind: storage.MFATOTP, Name: "phone", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.call(t, "POST", "/users/"+ada.ID+"/remove-factors", support, map[string]string{}).problem(t, 422)
	rf := e.call(t, "POST", "/users/"+ada.ID+"/remove-factors", support, map[string]string{"reason": "lost phone", "kind": "totp"})
	if rf.status != 200 || !strings.Contains(rf.body, `"removed":1`) {
		t.Fatalf("remove factors: %d %s", rf.status, rf.body)
	}
	if a := e.call(t, "POST", "/users/"+ada.ID+"/sign-out-everywhere", support, map[string]string{"reason": "stolen laptop"}); a.status != 204 {
		t.Fatalf("sign out: %d %s", a.status, a.body)
	}
	if st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, app.ID, app.Secret); st == 200 {
		t.Fatalf("the refresh token still works after sign out everywhere: %s", body)
	}

	// Delete: admin only, If-Match and a reason.
	e.call(t, "DELETE", "/users/"+ada.ID, support, nil, "If-Match", "*").problem(t, 403)
	e.call(t, "DELETE", "/users/"+ada.ID+"?reason=asked", adminTok, nil).problem(t, 428)
	e.call(t, "DELETE", "/users/"+ada.ID, adminTok, nil, "If-Match", "*").problem(t, 422)
	cur := e.call(t, "GET", "/users/"+ada.ID, adminTok, nil).header.Get("ETag")
	if a := e.call(t, "DELETE", "/users/"+ada.ID+"?reason=asked+by+mail", adminTok, nil, "If-Match", cur); a.status != 204 {
		t.Fatalf("delete: %d %s", a.status, a.body)
	}
	e.call(t, "GET", "/users/"+ada.ID, adminTok, nil).problem(t, 404)

	// The export has every admin action on the account, as JSON lines, after its deletion.
	resp := e.call(t, "GET", "/audit-events/export?target="+url.QueryEscape("user:"+ada.ID), adminTok, nil)
	if resp.status != 200 || !strings.HasPrefix(resp.header.Get("Content-Type"), "application/jsonl") {
		t.Fatalf("export: %d %v", resp.status, resp.header)
	}
	seen := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(resp.body))
	for sc.Scan() {
		var ev admin.AuditEntry
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		seen[ev.Type] = ev.Reason
	}
	want := map[string]string{"admin.user.lock": "suspicious payouts", "admin.user.unlock": "owner verified", "admin.user.send_reset": "forgot",
		"admin.user.remove_factors": "lost phone", "admin.user.sign_out_everywhere": "stolen laptop", "admin.user.delete": "asked by mail"}
	for typ, reason := range want {
		if got, ok := seen[typ]; !ok || got != reason {
			t.Errorf("export: %s = %q (present %v), want reason %q", typ, got, ok, reason)
		}
	}
	e.call(t, "GET", "/audit-events?since=yesterday", adminTok, nil).problem(t, 422)
}

// TestAdminAPIStoreFault: a store failure is ours: 503 problem+json with Retry-After,
// never a 4xx and never the driver's words.
func TestAdminAPIStoreFault(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	_, tok := e.automation(t, admin.ScopeWrite)
	u := e.addUser("ada@example.com")
	for _, c := range []struct{ method, path, fail string }{
		{"GET", "/users?email_prefix=a", "SearchUsers"},
		{"GET", "/users/" + u.ID, "ListMFACredentials"},
		{"POST", "/users/" + u.ID + "/unlock", "ResetCounter"},
		{"GET", "/clients", "ListClients"},
		{"GET", "/audit-events", "QueryAuditEvents"},
		{"GET", "/audit-events/export", "AddAuditEvent"},
		{"GET", "/users", "GetClient"}, // the token's client, read while verifying it
	} {
		if c.fail == "GetClient" {
			time.Sleep(1100 * time.Millisecond) // past the client cache's second (storage/clientcache)
		}
		fs.Fail(c.fail)
		a := e.call(t, c.method, c.path, tok, nil)
		fs.Clear()
		a.problem(t, 503)
		if a.header.Get("Retry-After") == "" {
			t.Errorf("%s %s: no Retry-After", c.method, c.path)
		}
		body, _ := withoutRandom(answer(a))
		for _, leak := range leaks {
			if strings.Contains(strings.ToLower(body), leak) {
				t.Errorf("%s %s leaks %q: %s", c.method, c.path, leak, a.body)
			}
		}
	}
}

// BenchmarkAdminAPI measures whole admin API requests over loopback against SQLite: token
// verification (a stateless client_credentials JWT: signature, client, denylist), the role
// and scope check, the store reads and the JSON answer. The rate limits (300 a minute per
// token, 600 per IP) bound a run: each case has its own token, and 250 iterations stay under
// both.
//
//	go test -run '^$' -bench BenchmarkAdminAPI -benchtime 250x ./internal/server/
func BenchmarkAdminAPI(b *testing.B) {
	e := newEnv(b)
	c := e.addClient(storage.ClientConfidential, withGrants("client_credentials"), func(c *storage.Client) { c.Scopes = []string{admin.ScopeRead} })
	token := func() string {
		st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {admin.ScopeRead}}, c.ID, c.Secret)
		if st != 200 {
			b.Fatalf("token: %d %s", st, body)
		}
		return jsonFieldT(b, body, "access_token")
	}
	u := e.addUser("ada@example.com")
	for i := range 50 {
		e.addUser(fmt.Sprintf("user%02d@example.com", i))
	}
	for _, path := range []string{"/users/" + u.ID, "/users?email_prefix=user&limit=20"} {
		name := "show"
		if strings.Contains(path, "?") {
			name = "search"
		}
		tok := token()
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				req, _ := http.NewRequest("GET", e.addr+adminAPI+path, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("%s: %d", path, resp.StatusCode)
				}
			}
		})
	}
}

// TestAdminAPIUnlockAfterLockout is the seeds' support path: a person locks themselves out
// with wrong passwords, calls the desk, support sees why (the lockout and its end) and
// unlocks, and the person signs in at once with the right password.
func TestAdminAPIUnlockAfterLockout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ada := e.addUser("ada@example.com")
	desk := e.addUser("desk@example.com")
	if err := e.store.GrantRole(context.Background(), desk.ID, storage.RoleSupport, time.Now()); err != nil {
		t.Fatal(err)
	}
	support := e.personToken(t, desk.Email)
	b := e.browser()
	try := func(pw string) *page { return b.submitLogin(b.get(e.issuer+"/login"), ada.Email, pw) }
	signedIn := func(p *page) bool { return p.url.Path == "/account" || p.url.Path == "/profile" }
	for range 5 {
		try("wrong password")
	}
	if p := try(testPassword); signedIn(p) || !strings.Contains(p.body, "Too many failed sign-in attempts") {
		t.Fatalf("not locked out after 5 failures: %d %s", p.status, p.url)
	}
	var d admin.UserDetail
	e.call(t, "GET", "/users/"+ada.ID, support, nil).json(t, &d)
	if d.Lock.LockedOutUntil == nil || !d.Lock.LockedOutUntil.After(time.Now()) || d.Lock.Locked || d.Status != storage.UserActive {
		t.Fatalf("support sees lock %+v, status %s", d.Lock, d.Status)
	}
	if a := e.call(t, "POST", "/users/"+ada.ID+"/unlock", support, map[string]string{"reason": "called the desk"}); a.status != 200 {
		t.Fatalf("unlock: %d %s", a.status, a.body)
	}
	if p := try(testPassword); !signedIn(p) {
		t.Fatalf("still locked out after support unlocked: %d %s %.200s", p.status, p.url, p.body)
	}
	var after admin.UserDetail // a fresh value: Unmarshal leaves absent fields as they were
	e.call(t, "GET", "/users/"+ada.ID, support, nil).json(t, &after)
	if after.Lock.LockedOutUntil != nil {
		t.Fatalf("lock after unlock: %+v", after.Lock)
	}
}

// TestAdminAPILimitsFromConfig: the admin API's request limits are the configuration's
// (security.admin_api_requests_per_minute_per_token, …_per_ip), not fixed ones.
func TestAdminAPILimitsFromConfig(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, envOptions{configure: func(c *config.Config) {
		c.Security.AdminAPIPerToken, c.Security.AdminAPIPerIP = 3, 5
	}})
	_, tok := e.automation(t, admin.ScopeRead)
	for i := 1; i <= 3; i++ {
		if a := e.call(t, "GET", "/clients", tok, nil); a.status != 200 {
			t.Fatalf("request %d of the token's 3: %d %s", i, a.status, a.body)
		}
	}
	a := e.call(t, "GET", "/clients", tok, nil)
	a.problem(t, 429)
	if a.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	_, other := e.automation(t, admin.ScopeRead)
	if a := e.call(t, "GET", "/clients", other, nil); a.status != 200 {
		t.Fatalf("another token, request 5 from the address: %d %s", a.status, a.body)
	}
	e.call(t, "GET", "/clients", other, nil).problem(t, 429) // the address's sixth
}
