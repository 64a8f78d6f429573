package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/internal/licence"
	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/storage"
)

// entitlement is one element of the licences claim.
type entitlement struct {
	ID         string `json:"id"`
	Product    string `json:"product"`
	Status     string `json:"status"`
	ExpiresAt  *int64 `json:"expires_at"`
	Seats      int    `json:"seats"`
	SeatsUsed  int    `json:"seats_used"`
	ThisDevice bool   `json:"this_device"`
}

// idTokenLicences reads the licences claim of the token response's ID token (the signature
// is the library's business here; the claim is ours). present is false without the claim.
func idTokenLicences(t *testing.T, tok *oauth2.Token) (es []entitlement, present bool) {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("no ID token in %v", tok.Extra("id_token"))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	c, ok := claims["licences"]
	if !ok {
		return nil, false
	}
	if err := json.Unmarshal(c, &es); err != nil {
		t.Fatalf("licences claim %s: %v", c, err)
	}
	return es, true
}

// licenceEnv is a server with mail, a product "antivirus" of a native app and a web app, a
// product "vault" of another native app, and Ada with a signed-in browser.
type licenceEnv struct {
	*testEnv
	av, web, vault *testClient
	ada            *storage.User
	b              *browser
}

func newLicenceEnv(t *testing.T) *licenceEnv {
	t.Helper()
	return newLicenceEnvWith(t, envOptions{smtp: mailtest.NewServer(t)})
}

func newLicenceEnvWith(t *testing.T, o envOptions) *licenceEnv {
	t.Helper()
	o.env = map[string]string{"MYACCOUNT_LICENCES_RENEWAL_URL": "https://shop.example/renew"}
	o.configure = func(c *config.Config) { c.Tokens.RefreshTokenTTL = config.Duration(120 * 24 * time.Hour) }
	e := newEnvWith(t, o)
	scope := func(c *storage.Client) { c.Scopes = []string{licence.Scope} }
	le := &licenceEnv{testEnv: e,
		av:    e.addClient(storage.ClientNative, scope, opaqueTokens, firstParty),
		web:   e.addClient(storage.ClientConfidential, scope, opaqueTokens, firstParty),
		vault: e.addClient(storage.ClientNative, scope, opaqueTokens, firstParty),
		ada:   e.addUser("ada@example.com")}
	ctx := context.Background()
	for _, p := range []*storage.Product{{ID: "antivirus", Name: "Antivirus", ClientIDs: []string{le.av.ID, le.web.ID}},
		{ID: "vault", Name: "Vault", ClientIDs: []string{le.vault.ID}}} {
		if err := e.store.CreateProduct(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	le.b = e.signedInBrowser("ada@example.com")
	return le
}

// sell adds the client c to the clients of product, so that its tokens carry the product's
// licences.
func (e *licenceEnv) sell(product string, c *testClient) {
	e.t.Helper()
	if _, err := e.store.UpdateProduct(context.Background(), product, func(p *storage.Product) error {
		p.ClientIDs = append(p.ClientIDs, c.ID)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
}

// issue makes a batch the way `myaccount licence issue` does.
func (e *licenceEnv) issue(product string, seats, days, count int) []licence.Issued {
	e.t.Helper()
	_, ls, err := e.srv.Licences.Issue(context.Background(), licence.IssueRequest{ProductID: product, Seats: seats, Days: days, Count: count}, licence.Meta{Actor: "cli"})
	if err != nil {
		e.t.Fatal(err)
	}
	return ls
}

// redeem types a code into the dashboard's form.
func (e *licenceEnv) redeem(code string) *page {
	e.t.Helper()
	f := e.b.get(e.issuer + "/account/licences").formValues()
	f.Set("code", code)
	return e.b.post(e.issuer+"/account/licences/redeem", f)
}

// device signs the native app in from an installation and exchanges the code.
func (e *licenceEnv) device(c *testClient, id, name string) *oauth2.Token {
	e.t.Helper()
	conf := e.oauth2Config(c, "openid", "offline_access", licence.Scope)
	res, verifier := e.signIn(e.b, c, "ada@example.com", oauth2.SetAuthURLParam("scope", "openid offline_access licences"),
		oauth2.SetAuthURLParam("device_id", id), oauth2.SetAuthURLParam("device_name", name))
	tok, err := conf.Exchange(context.Background(), res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *licenceEnv) refresh(c *testClient, tok *oauth2.Token) *oauth2.Token {
	e.t.Helper()
	conf := e.oauth2Config(c, "openid", "offline_access", licence.Scope)
	f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {c.ID}}
	user, pass := "", ""
	if c.Secret != "" {
		user, pass = c.ID, c.Secret
	}
	status, _, body := e.postForm("/oauth/token", f, user, pass)
	if status != http.StatusOK {
		e.t.Fatalf("refresh: %d %s", status, body)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		e.t.Fatal(err)
	}
	next := &oauth2.Token{AccessToken: raw["access_token"].(string), RefreshToken: raw["refresh_token"].(string)}
	_ = conf
	return next.WithExtra(raw)
}

func (e *licenceEnv) bearer(method, path, token string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func userinfoLicences(t *testing.T, e *licenceEnv, token string) []entitlement {
	t.Helper()
	status, body := e.bearer(http.MethodGet, "/userinfo", token)
	if status != http.StatusOK {
		t.Fatalf("userinfo: %d %s", status, body)
	}
	var ui struct {
		Licences *[]entitlement `json:"licences"`
	}
	if err := json.Unmarshal([]byte(body), &ui); err != nil || ui.Licences == nil {
		t.Fatalf("userinfo without licences: %s (%v)", body, err)
	}
	return *ui.Licences
}

// TestLicenceSeatsEndToEnd: a code redeemed on the dashboard; the antivirus app signs in
// from two installations with a one-seat licence: the first takes the seat, the second gets
// none and its explicit activation is answered 409 naming the holder; the person frees the
// seat on the dashboard and the second installation gets it at its next refresh. The vault
// app never sees the antivirus licence; a web app of the product sees it without a seat;
// userinfo and introspection carry the same summary.
func TestLicenceSeatsEndToEnd(t *testing.T) {
	t.Parallel()
	e := newLicenceEnv(t)
	codes := e.issue("antivirus", 1, 365, 2)

	// A wrong code gets the one generic message; the right one, typed sloppily, is added.
	p := e.redeem(licence.NewCode())
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "This activation code cannot be used.") {
		t.Fatalf("unknown code: %d\n%.2000s", p.status, p.body)
	}
	p = e.redeem(strings.ToLower(strings.ReplaceAll(codes[0].Code, "-", " ")))
	if p.status != http.StatusOK || !strings.Contains(p.body, "The licence was added to your account.") ||
		!strings.Contains(p.body, "Antivirus") || !strings.Contains(p.body, "0 of 1 in use") {
		t.Fatalf("redeem: %d\n%.3000s", p.status, p.body)
	}

	// First installation: the first token issuance binds the seat.
	laptop := e.device(e.av, "install-laptop", "Ada's laptop")
	es, ok := idTokenLicences(t, laptop)
	if !ok || len(es) != 1 || !es[0].ThisDevice || es[0].SeatsUsed != 1 || es[0].Seats != 1 ||
		es[0].Product != "antivirus" || es[0].Status != "active" || es[0].ID != codes[0].ID || es[0].ExpiresAt == nil {
		t.Fatalf("laptop's licences claim = %+v (%v)", es, ok)
	}
	// Second installation: no free seat.
	phone := e.device(e.av, "install-phone", "Ada's phone")
	if es, _ := idTokenLicences(t, phone); len(es) != 1 || es[0].ThisDevice || es[0].SeatsUsed != 1 {
		t.Fatalf("phone's licences claim = %+v", es)
	}
	status, body := e.bearer(http.MethodPost, "/api/v1/licences/"+codes[0].ID+"/activations", phone.AccessToken)
	if status != http.StatusConflict || !strings.Contains(body, `"no_free_seat"`) || !strings.Contains(body, "Ada's laptop") {
		t.Fatalf("explicit activation on a full licence: %d %s", status, body)
	}
	// The laptop's own activation is idempotent: 201.
	if status, body := e.bearer(http.MethodPost, "/api/v1/licences/"+codes[0].ID+"/activations", laptop.AccessToken); status != http.StatusCreated || !strings.Contains(body, `"this_device":true`) {
		t.Fatalf("activation by the holder: %d %s", status, body)
	}
	// Another product's app never sees this product's licences, nor can it activate them.
	vault := e.device(e.vault, "install-laptop", "Ada's laptop")
	if es, ok := idTokenLicences(t, vault); !ok || len(es) != 0 {
		t.Fatalf("vault's licences claim = %+v (%v)", es, ok)
	}
	if status, body := e.bearer(http.MethodPost, "/api/v1/licences/"+codes[0].ID+"/activations", vault.AccessToken); status != http.StatusNotFound {
		t.Fatalf("activation by another product: %d %s", status, body)
	}
	if got := userinfoLicences(t, e, vault.AccessToken); len(got) != 0 {
		t.Fatalf("vault's userinfo licences = %+v", got)
	}
	// A token without the scope gets no claim and may not use the API.
	plain := e.tokens(context.Background(), e.b, e.av, "ada@example.com")
	if _, ok := idTokenLicences(t, plain); ok {
		t.Fatal("licences claim without the licences scope")
	}
	if status, _ := e.bearer(http.MethodPost, "/api/v1/licences/"+codes[0].ID+"/activations", plain.AccessToken); status != http.StatusUnauthorized {
		t.Fatalf("activation without the scope: %d", status)
	}
	// Userinfo reports from the laptop's point of view; introspection too (web app, its own token).
	if got := userinfoLicences(t, e, laptop.AccessToken); len(got) != 1 || !got[0].ThisDevice {
		t.Fatalf("laptop's userinfo licences = %+v", got)
	}
	web := e.tokens(context.Background(), e.b, e.web, "ada@example.com", oauth2.SetAuthURLParam("scope", "openid offline_access licences"))
	if es, _ := idTokenLicences(t, web); len(es) != 1 || es[0].ThisDevice || es[0].SeatsUsed != 1 {
		t.Fatalf("web app's licences claim = %+v (a web app without device_id takes no seat)", es)
	}
	st, _, ib := e.postForm("/oauth/introspect", url.Values{"token": {web.AccessToken}}, e.web.ID, e.web.Secret)
	if st != http.StatusOK || !strings.Contains(ib, `"licences":[{"id":"`+codes[0].ID+`"`) {
		t.Fatalf("introspection: %d %s", st, ib)
	}

	// The dashboard lists the laptop; Ada removes the licence from it.
	p = e.b.get(e.issuer + "/account/licences")
	if !strings.Contains(p.body, "Ada&#39;s laptop") || !strings.Contains(p.body, "1 of 1 in use") {
		t.Fatalf("licences page:\n%.3000s", p.body)
	}
	f := p.formValues()
	if f.Get("device_id") == "" || f.Get("licence_id") != codes[0].ID {
		t.Fatalf("free form values %v", f)
	}
	p = e.b.post(e.issuer+"/account/licences/free", f)
	if p.status != http.StatusOK || !strings.Contains(p.body, "0 of 1 in use") {
		t.Fatalf("free: %d\n%.2000s", p.status, p.body)
	}
	// At its next refresh the laptop has lost it (and does not take it back by itself, even
	// refreshing first); the phone gets it at its next refresh.
	laptop = e.refresh(e.av, laptop)
	if es, _ := idTokenLicences(t, laptop); len(es) != 1 || es[0].ThisDevice || es[0].SeatsUsed != 0 {
		t.Fatalf("laptop after the seat was freed: %+v", es)
	}
	phone = e.refresh(e.av, phone)
	if es, _ := idTokenLicences(t, phone); len(es) != 1 || !es[0].ThisDevice || es[0].SeatsUsed != 1 {
		t.Fatalf("phone after the seat was freed: %+v", es)
	}
	if got := userinfoLicences(t, e, laptop.AccessToken); len(got) != 1 || got[0].ThisDevice {
		t.Fatalf("laptop's userinfo after the move = %+v", got)
	}
	// Signing the phone out on "Your devices" frees its seat as well.
	grants, err := e.store.ListGrants(context.Background(), e.ada.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range grants {
		if g.DeviceID == "install-phone" && g.RevokedAt == nil {
			f := e.b.get(e.issuer + "/account/devices").formValues()
			f.Set("grant_id", g.ID)
			if p := e.b.post(e.issuer+"/account/devices/revoke", f); p.status != http.StatusOK {
				t.Fatalf("sign the phone out: %d", p.status)
			}
		}
	}
	if p := e.b.get(e.issuer + "/account/licences"); !strings.Contains(p.body, "0 of 1 in use") {
		t.Fatalf("licences page after signing the phone out:\n%.3000s", p.body)
	}
	// The laptop may now take it again explicitly (the release is forgotten).
	if status, body := e.bearer(http.MethodPost, "/api/v1/licences/"+codes[0].ID+"/activations", laptop.AccessToken); status != http.StatusCreated {
		t.Fatalf("explicit activation after the release: %d %s", status, body)
	}
}

// TestLicenceExpiryRemindersAndLimits: with the clock moved, reminders go out over SMTP 30
// and 7 days before the end and on it, each once, in the person's language; the expired
// licence leaves the product's claim at its next refresh and the page says "Expired" with
// the renewal link. Guessing codes on the dashboard runs into the attempt limit.
func TestLicenceExpiryRemindersAndLimits(t *testing.T) {
	t.Parallel()
	e := newLicenceEnv(t)
	ctx := context.Background()
	if _, err := e.store.UpdateUser(ctx, e.ada.ID, func(u *storage.User) error { u.Locale = "de"; return nil }); err != nil {
		t.Fatal(err)
	}
	codes := e.issue("antivirus", 2, 30, 1)
	if p := e.redeem(codes[0].Code); p.status != http.StatusOK {
		t.Fatalf("redeem: %d", p.status)
	}
	laptop := e.device(e.av, "install-laptop", "Laptop")
	if es, _ := idTokenLicences(t, laptop); len(es) != 1 || !es[0].ThisDevice {
		t.Fatalf("claim before expiry: %+v", es)
	}
	remind := func(want string) {
		t.Helper()
		e.srv.SendLicenceReminders(ctx)
		e.srv.SendLicenceReminders(ctx) // a second run sends nothing more
		m := e.smtp.WaitFor(t, "ada@example.com", mailWait)
		if !strings.Contains(m.Subject, want) || !strings.Contains(m.Text, "https://shop.example/renew") ||
			!strings.Contains(m.Text, e.issuer+"/account/licences") {
			t.Fatalf("reminder %q: subject %q\n%s", want, m.Subject, m.Text)
		}
	}
	remind("Ihre Antivirus-Lizenz endet in 30 Tagen") // 30 days left right after redemption
	e.clock.Advance(24 * 24 * time.Hour)
	remind("endet in 6 Tagen") // the 7-day reminder, saying the time actually left
	e.clock.Advance(6*24*time.Hour + time.Hour)
	remind("ist abgelaufen")
	if n := len(e.smtp.Messages()); n != 3 {
		t.Fatalf("%d mails, want 3 (each reminder once)", n)
	}
	// The claim is gone at the next refresh; userinfo agrees.
	laptop = e.refresh(e.av, laptop)
	if es, ok := idTokenLicences(t, laptop); !ok || len(es) != 0 {
		t.Fatalf("claim after expiry: %+v (%v)", es, ok)
	}
	if got := userinfoLicences(t, e, laptop.AccessToken); len(got) != 0 {
		t.Fatalf("userinfo after expiry: %+v", got)
	}
	b := e.signedInBrowser("ada@example.com")
	p := b.get(e.issuer + "/account/licences")
	if !strings.Contains(p.body, "Abgelaufen") || !strings.Contains(p.body, "https://shop.example/renew") {
		t.Fatalf("licences page after expiry:\n%.3000s", p.body)
	}
	events, err := e.store.ListAuditEvents(ctx, e.ada.ID, 50)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ev := range events {
		seen[ev.Type] = true
	}
	for _, want := range []string{licence.EventAdded, licence.EventActivated, licence.EventExpired} {
		if !seen[want] {
			t.Errorf("activity lacks %s: %v", want, seen)
		}
	}

	// Brute force: well-formed guesses count; the account's attempts run out.
	e.b = b
	refused := 0
	for range 12 {
		if p := e.redeem(licence.NewCode()); p.status == http.StatusTooManyRequests {
			refused++
		} else if p.status != http.StatusUnprocessableEntity {
			t.Fatalf("guess: %d", p.status)
		}
	}
	// The limit is 10 an hour (the redemption a month ago is out of the window).
	if refused != 12-guard.LicenceRedeemAccount.Limit() {
		t.Fatalf("%d of 12 guesses refused, want %d", refused, 12-guard.LicenceRedeemAccount.Limit())
	}
	if p := e.redeem(codes[0].Code); p.status != http.StatusTooManyRequests {
		t.Fatalf("a good code while limited: %d", p.status)
	}
}

// TestLicenceDeviceGrantBindsSeat: a device-grant device (a TV app) names its installation
// with device_id at device authorization; the tokens the approval yields bind a seat, and a
// second device finds the one-seat licence taken.
func TestLicenceDeviceGrantBindsSeat(t *testing.T) {
	t.Parallel()
	e := newLicenceEnv(t)
	tv := e.addClient(storage.ClientNative, withGrants(grantDevice, "refresh_token"), opaqueTokens, firstParty,
		func(c *storage.Client) { c.Scopes = []string{licence.Scope} })
	e.sell("antivirus", tv)
	codes := e.issue("antivirus", 1, 0, 1)
	if p := e.redeem(codes[0].Code); p.status != http.StatusOK {
		t.Fatalf("redeem: %d", p.status)
	}
	claim := func(id string) []entitlement {
		t.Helper()
		da := e.authorizeDevice(tv, "openid offline_access licences", url.Values{"device_id": {id}, "device_name": {"TV " + id}})
		e.decideDevice(e.b, da.UserCode, "approve")
		st, m := e.pollDevice(tv, da.DeviceCode)
		if st != http.StatusOK {
			t.Fatalf("poll: %d %v", st, m)
		}
		tok := (&oauth2.Token{AccessToken: m["access_token"].(string)}).WithExtra(m)
		es, ok := idTokenLicences(t, tok)
		if !ok {
			t.Fatalf("no licences claim for %s", id)
		}
		return es
	}
	if es := claim("living-room"); len(es) != 1 || !es[0].ThisDevice || es[0].ExpiresAt != nil {
		t.Fatalf("first TV: %+v (an unlimited licence has expires_at null)", es)
	}
	if es := claim("bedroom"); len(es) != 1 || es[0].ThisDevice || es[0].SeatsUsed != 1 {
		t.Fatalf("second TV: %+v", es)
	}
	p := e.b.get(e.issuer + "/account/licences")
	if !strings.Contains(p.body, "TV living-room") || strings.Contains(p.body, "TV bedroom") {
		t.Fatalf("licences page:\n%.3000s", p.body)
	}
}
