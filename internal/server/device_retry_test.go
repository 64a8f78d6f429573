package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// TestDevicePollRetriedAfterLostAnswer: a device whose token answer was lost after the
// commit (a dropped connection, an instance killed) polls again with the only code it has.
// Before, that poll was told invalid_grant "already used": a television or a keyboardless
// box had to start over and the person type a new code, while the grant it never received
// stayed on "My devices". Within the retry grace the poll now gets
// tokens, and the grant it never received is revoked with its tokens, so one entry is left.
// The code still yields nothing once the device has used its refresh token, once the grace
// is over, or once the person signed the device out.
func TestDevicePollRetriedAfterLostAnswer(t *testing.T) {
	onBothDatabases(t, devicePollRetriedAfterLostAnswer)
}

func devicePollRetriedAfterLostAnswer(t *testing.T, env map[string]string) {
	e := newEnvWith(t, envOptions{env: env})
	ctx := context.Background()
	u := e.addUser("ada@example.com")
	c := e.deviceClient(storage.ClientNative)
	b := e.signedInBrowser("ada@example.com")
	// approved returns a device code Ada approved on her phone, and its first answer.
	approved := func(name string) (string, map[string]any) {
		t.Helper()
		da := e.authorizeDevice(c, "openid email offline_access", url.Values{"device_name": {name}})
		if p := e.decideDevice(b, da.UserCode, "approve"); !strings.Contains(p.body, "You can return to your device") {
			t.Fatalf("approval:\n%.800s", p.body)
		}
		st, first := e.pollDevice(c, da.DeviceCode)
		if st != http.StatusOK || first["refresh_token"] == nil {
			t.Fatalf("first poll: %d %v", st, first)
		}
		return da.DeviceCode, first
	}
	live := func() []*storage.Grant { t.Helper(); _, l := e.grants(u.ID); return l }
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }

	// The first answer is lost; the device polls again a few seconds later.
	code, lost := approved("Living room TV")
	e.clock.Advance(5 * time.Second)
	st, retry := e.pollDevice(c, code)
	if st != http.StatusOK || str(retry, "refresh_token") == "" || str(retry, "id_token") == "" {
		t.Fatalf("poll after a lost answer: %d %v, want the tokens", st, retry)
	}
	if str(retry, "refresh_token") == str(lost, "refresh_token") {
		t.Fatal("the retry got the lost refresh token again; only hashes are stored")
	}
	// What the device never received is dead; what it holds works; one device is listed.
	if a := e.refreshWith(c, str(lost, "refresh_token")); a.status != http.StatusBadRequest || a.err != "invalid_grant" {
		t.Errorf("the lost refresh token: %d %s, want 400 invalid_grant", a.status, a.err)
	}
	if st, _, _ := e.userinfo("Bearer", str(lost, "access_token"), ""); st != http.StatusUnauthorized {
		t.Errorf("userinfo with the lost access token: %d, want 401", st)
	}
	if st, _, body := e.userinfo("Bearer", str(retry, "access_token"), ""); st != http.StatusOK {
		t.Errorf("userinfo with the retry's access token: %d %s", st, body)
	}
	if gs := live(); len(gs) != 1 || gs[0].DeviceName != "Living room TV" {
		t.Fatalf("live grants after the retry: %+v, want the one device", gs)
	}
	if p := b.get(e.issuer + "/account/devices"); strings.Count(p.body, "Living room TV") != 1 {
		t.Errorf("My devices lists the TV %d times, want once", strings.Count(p.body, "Living room TV"))
	}

	// The device refreshed: its answer reached it, so the code coming back is no retry, and
	// it takes nothing from the device.
	next := e.refreshWith(c, str(retry, "refresh_token"))
	if !next.ok() {
		t.Fatalf("refresh with the retry's token: %d %s", next.status, next.err)
	}
	e.wantPollError(c, code, "invalid_grant")
	if a := e.refreshWith(c, next.refresh); !a.ok() {
		t.Errorf("refresh after the refused poll: %d %s, want the device still signed in", a.status, a.err)
	}

	// Past the grace from the first use, a poll is refused and the device keeps its tokens.
	code2, first2 := approved("Kitchen speaker")
	e.clock.Advance(31 * time.Second) // tokens.refresh_reuse_interval is 30 s
	e.wantPollError(c, code2, "invalid_grant")
	if a := e.refreshWith(c, str(first2, "refresh_token")); !a.ok() {
		t.Errorf("refresh after a late poll: %d %s", a.status, a.err)
	}

	// Signed out by the person in between: the device stays signed out.
	code3, first3 := approved("Garage box")
	var garage *storage.Grant
	for _, g := range live() {
		if g.DeviceName == "Garage box" {
			garage = g
		}
	}
	if garage == nil {
		t.Fatal("the garage box is not listed")
	}
	if err := e.store.RevokeGrant(ctx, garage.ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.wantPollError(c, code3, "invalid_grant")
	for _, g := range live() {
		if g.DeviceName == "Garage box" {
			t.Errorf("a poll after the sign-out brought the garage box back: %+v", g)
		}
	}
	if a := e.refreshWith(c, str(first3, "refresh_token")); a.ok() {
		t.Error("the signed-out device's refresh token works")
	}

	// Another client presenting the code learns nothing and takes nothing.
	code4, first4 := approved("Bedroom TV")
	other := e.deviceClient(storage.ClientNative)
	e.wantPollError(other, code4, "invalid_grant")
	if a := e.refreshWith(c, str(first4, "refresh_token")); !a.ok() {
		t.Errorf("refresh after another client's poll: %d %s", a.status, a.err)
	}
}

// TestDeviceRetryPollFailureIsOurs fails, once, each store call a retried poll makes (its
// first, second, ... call). A failure of ours on the retry must be our fixed 5xx, never
// invalid_grant, must leave the device's first grant as it was (it may yet have the answer),
// and the next poll must get the tokens.
func TestDeviceRetryPollFailureIsOurs(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	u := e.addUser("ada@example.com")
	c := e.deviceClient(storage.ClientNative)
	// polled returns a device code that Ada approved and that was polled once (the lost
	// answer), with the grant that poll issued.
	polled := func() (string, string) {
		t.Helper()
		da := e.authorizeDevice(c, "openid email offline_access", nil)
		now := e.clock.Now()
		if err := e.store.DecideDeviceCode(context.Background(), strings.ReplaceAll(da.UserCode, "-", ""),
			storage.DeviceApproved, u.ID, now, []string{"pwd"}, now); err != nil {
			t.Fatal(err)
		}
		if st, m := e.pollDevice(c, da.DeviceCode); st != http.StatusOK {
			t.Fatalf("first poll: %d %v", st, m)
		}
		dc, err := e.store.GetDeviceCode(context.Background(), hashOf(da.DeviceCode))
		if err != nil {
			t.Fatal(err)
		}
		return da.DeviceCode, dc.GrantID
	}
	poll := func(code string) answer {
		st, hdr, body := e.postForm("/oauth/token", url.Values{"grant_type": {grantDevice}, "device_code": {code}, "client_id": {c.ID}}, "", "")
		return answer{st, hdr, body}
	}
	code, _ := polled()
	fs.ResetCalls()
	normal := poll(code)
	methods := fs.Calls()
	if normal.status != http.StatusOK || !strings.Contains(normal.body, "refresh_token") {
		t.Fatalf("retry without failures: %d %s", normal.status, normal.body)
	}
	type polledCode struct{ code, firstGrant string }
	prepare := func() polledCode { code, first := polled(); return polledCode{code, first} }
	eachCallFailing(fs, methods, prepare, func(c polledCode) answer { return poll(c.code) }, func(call string, c polledCode, got answer) {
		what := "retried poll with " + call
		checkFailureAnswer(t, what, normal, got)
		if got.status == http.StatusOK {
			return
		}
		if g, err := e.store.GetGrant(context.Background(), c.firstGrant); err != nil || g.RevokedAt != nil {
			t.Errorf("%s: the first grant after the failure: %+v, %v; want it live", what, g, err)
		}
		if retry := poll(c.code); retry.status != http.StatusOK || !strings.Contains(retry.body, "refresh_token") {
			t.Errorf("%s: %d, then the next poll: %d %s, want the tokens", what, got.status, retry.status, retry.body)
		}
	})
}

// TestDeviceDecisionSentTwice: the person's side of a lost answer. Approving on a phone whose
// network drops the answer, they press Approve again (or reload the code page). Before, the
// second press said "This code is unknown or has expired" although the device was connected.
// Now the person who answered is shown that answer again; anyone else entering the code still
// finds nothing, as for an expired code.
func TestDeviceDecisionSentTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("ada@example.com")
	e.addUser("bob@example.com")
	c := e.deviceClient(storage.ClientNative)
	for _, decision := range []string{"approve", "deny"} {
		da := e.authorizeDevice(c, "openid offline_access", nil)
		b := e.signedInBrowser("ada@example.com")
		confirm := e.enterCode(b, da.UserCode)
		first := b.decide(confirm, decision)
		want := "You can return to your device"
		if decision == "deny" {
			want = "Request denied"
		}
		if !strings.Contains(first.body, want) {
			t.Fatalf("%s: first answer:\n%.800s", decision, first.body)
		}
		again := b.decide(confirm, decision) // the same form, sent again
		if again.url.Path != "/device" || again.url.Query().Get("done") == "" || !strings.Contains(again.body, want) {
			t.Errorf("%s sent twice: %d at %s, want the result page again:\n%.800s", decision, again.status, again.url, again.body)
		}
		if p := e.enterCode(b, da.UserCode); !strings.Contains(p.body, want) {
			t.Errorf("%s, then the code entered again: want the result page:\n%.800s", decision, p.body)
		}
		other := e.signedInBrowser("bob@example.com")
		if p := e.enterCode(other, da.UserCode); !strings.Contains(p.body, "This code is unknown or has expired") {
			t.Errorf("%s, then another person enters the code: want it unknown:\n%.800s", decision, p.body)
		}
	}
}

// grants lists all of the user's grants and the live ones among them.
func (e *testEnv) grants(userID string) (all, live []*storage.Grant) {
	e.t.Helper()
	all, err := e.store.ListGrants(context.Background(), userID)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, g := range all {
		if g.RevokedAt == nil {
			live = append(live, g)
		}
	}
	return all, live
}
