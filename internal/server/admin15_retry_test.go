package server_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/storage"
)

// TestAdminActionsSentAgainWithKey: an admin action sent again with its Idempotency-Key after
// its answer was lost is answered as the first was and does nothing again: no second mail
// (resend-activation, send-reset), no 409 "already locked", no "removed 0" and no second
// notice, no 412 for the ETag its first request changed (unlock, a client's update), no 404
// for what it deleted, and one audit event each. Without a key the mails' retry is a second
// mail (what the key is for); the key after 24 hours is 422.
func TestAdminActionsSentAgainWithKey(t *testing.T) {
	t.Parallel()
	actionsSentAgainWithKey(t, newEnv(t))
}

// TestAdminActionsSentAgainWithKeyPostgres is its twin on PostgreSQL.
func TestAdminActionsSentAgainWithKeyPostgres(t *testing.T) {
	t.Parallel()
	actionsSentAgainWithKey(t, newEnvWith(t, envOptions{env: postgresVars(t)}))
}

func actionsSentAgainWithKey(t *testing.T, e *testEnv) {
	e.clock.Advance(0)
	robot, tok := e.automation(t, admin.ScopeWrite, admin.ScopeRead)
	snap := snapshotEffects(t, e)
	reason := map[string]string{"reason": "asked by phone"}
	user := func(state string) func() string {
		return func() string { return "/users/" + sweepUser(t, e, state).ID }
	}
	client := func() string {
		return "/clients/" + e.addClient(storage.ClientConfidential, withGrants("client_credentials")).ID
	}
	for _, c := range []struct {
		name, method, action string
		target               func() string // the account's or client's path
		body                 any
		status               int
		answer               string // in the answer, when it has a body
		ifMatch              bool
		mails                bool
	}{
		{"resend-activation", "POST", "/resend-activation", user("pending"), reason, http.StatusNoContent, "", false, true},
		{"send-reset", "POST", "/send-reset", user("active"), reason, http.StatusNoContent, "", false, true},
		{"lock", "POST", "/lock", user("active"), reason, http.StatusOK, `"status":"locked"`, true, false},
		{"unlock", "POST", "/unlock", user("locked"), reason, http.StatusOK, `"status":"active"`, true, false},
		{"remove-factors", "POST", "/remove-factors", user("factors"), reason, http.StatusOK, `{"removed":2}`, false, false},
		{"sign-out-everywhere", "POST", "/sign-out-everywhere", user("active"), reason, http.StatusNoContent, "", false, false},
		{"delete user", "DELETE", "", user("factors"), reason, http.StatusNoContent, "", true, false},
		{"update client", "PATCH", "", client, map[string]string{"name": "Renamed"}, http.StatusOK, `"name":"Renamed"`, true, false},
		{"delete client", "DELETE", "", client, nil, http.StatusNoContent, "", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			target := c.target()
			path := target + c.action
			var headers []string
			if c.ifMatch {
				headers = append(headers, "If-Match", e.call(t, "GET", target, tok, nil).header.Get("ETag"))
			}
			send := func(key string) apiAnswer {
				return e.call(t, c.method, path, tok, c.body, append([]string{"Idempotency-Key", key}, headers...)...)
			}
			key := "k-" + target
			before := snap()
			first := send(key)
			once := snap().minus(before)
			if first.status != c.status || !strings.Contains(first.body, c.answer) {
				t.Fatalf("first: %d %s", first.status, first.body)
			}
			again := send(key)
			if again.status != first.status || !strings.Contains(again.body, c.answer) {
				t.Errorf("sent again with its key: %d %s, the first answered %d %s", again.status, again.body, first.status, first.body)
			}
			if all := snap().minus(before); !sameEffects(all, once) {
				t.Errorf("sent again with its key: the two wrote %v, the first alone %v", all, once)
			}
			if c.mails {
				// Without a key, the retry is a second request: a second mail.
				if unkeyed := e.call(t, c.method, path, tok, c.body, headers...); unkeyed.status != c.status || snap().minus(before)["outbox"] != 2*once["outbox"] {
					t.Errorf("without a key: %d, wrote %v", unkeyed.status, snap().minus(before))
				}
			}
			// The key a day later is refused: its event keeps the id, a second would be lost.
			e.clock.Advance(admin.IdempotencyWindow + time.Minute)
			tok = e.scopedToken(t, robot, admin.ScopeWrite, admin.ScopeRead)
			send(key).problem(t, http.StatusUnprocessableEntity)
		})
	}
}

// TestConsoleFormsSentAgain: a console form sent again (a reload after a lost answer, a
// second press) is its first sending's repeat: a reset link is mailed once, a person locked
// once without "Not possible now", a client created once (its secret shown again, new); a form
// rendered anew is a new action. Before, each sending did it again: a second mail, a 409, a
// second client whose secret nobody kept.
func TestConsoleFormsSentAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.clock.Advance(0)
	adm, _, _ := e.consoleStaff("staff@example.com", storage.RoleAdmin)
	snap := snapshotEffects(t, e)
	u := sweepUser(t, e, "active")
	page := "/admin/users/" + u.ID
	sendTwice := func(action string) {
		t.Helper()
		f := formAt(t, adm.get(e.issuer+page), page+"/"+action)
		f.Set("reason", "asked by phone")
		before := snap()
		mustAt(t, adm.post(e.issuer+page+"/"+action, f), page)
		once := snap().minus(before)
		if p := adm.post(e.issuer+page+"/"+action, f); p.status != http.StatusOK || p.url.Path != page {
			t.Errorf("%s sent again: %d at %s", action, p.status, p.url)
		}
		if all := snap().minus(before); !sameEffects(all, once) {
			t.Errorf("%s sent again: the two wrote %v, the first alone %v", action, all, once)
		}
	}
	sendTwice("send-reset")
	// A form rendered anew is a new action: a second link.
	f := formAt(t, adm.get(e.issuer+page), page+"/send-reset")
	f.Set("reason", "asked again")
	before := snap()
	mustAt(t, adm.post(e.issuer+page+"/send-reset", f), page)
	if d := snap().minus(before); d["outbox"] != 1 {
		t.Errorf("a new form's reset link: wrote %v", d)
	}
	sendTwice("lock")

	cf := formAt(t, adm.get(e.issuer+"/admin/clients"), "/admin/clients")
	cf.Set("name", "Portal")
	cf.Set("type", storage.ClientConfidential)
	cf.Set("redirect_uris", "https://portal.example/cb")
	before = snap()
	first, again := adm.post(e.issuer+"/admin/clients", cf), adm.post(e.issuer+"/admin/clients", cf)
	if d := snap().minus(before); d["clients"] != 1 || first.status != 200 || again.status != 200 ||
		!strings.Contains(again.body, `id="client-secret"`) {
		t.Errorf("the create form sent twice: %d, %d, wrote %v", first.status, again.status, d)
	}
}

// TestConsoleFormSentAgainADayLater: a console form sent again more than a day after its
// first sending (its key's window) does nothing and says the page is stale (409), not
// "Something went wrong".
func TestConsoleFormSentAgainADayLater(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.clock.Advance(0)
	adm, _, _ := e.consoleStaff("staff@example.com", storage.RoleAdmin)
	u := sweepUser(t, e, "active")
	page := "/admin/users/" + u.ID
	f := formAt(t, adm.get(e.issuer+page), page+"/sign-out")
	f.Set("reason", "lost laptop")
	mustAt(t, adm.post(e.issuer+page+"/sign-out", f), page)
	e.clock.Advance(admin.IdempotencyWindow + time.Minute)
	if p := adm.post(e.issuer+page+"/sign-out", f); p.status != http.StatusConflict || !strings.Contains(p.body, "Nothing was done") {
		t.Fatalf("the form a day later: %d\n%.500s", p.status, p.body)
	}
}

// TestAdminKeyedActionsAtOnce: a keyed action sent again while its first sending is still
// being served (a script's timeout shorter than the request) is done once: on PostgreSQL,
// where two transactions run side by side, the second waits for the first's key and answers
// as its repeat. Several at once of one send-reset with one key: one mail, one event.
func TestAdminKeyedActionsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, envOptions{env: postgresVars(t)})
	_, tok := e.automation(t, admin.ScopeWrite, admin.ScopeRead)
	snap := snapshotEffects(t, e)
	for round := range 5 {
		u := sweepUser(t, e, "active")
		before := snap()
		var wg sync.WaitGroup
		codes := make([]int, 6)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = e.call(t, "POST", "/users/"+u.ID+"/send-reset", tok, map[string]string{"reason": "asked"}, "Idempotency-Key", "k").status
			}()
		}
		wg.Wait()
		d := snap().minus(before)
		for _, c := range codes {
			if c != http.StatusNoContent {
				t.Errorf("round %d: answers %v, want 204 each", round, codes)
				break
			}
		}
		if d["outbox"] != 1 || d["audit_events"] != 2 {
			t.Fatalf("round %d: %d sendings at once with one key wrote %v, want one mail and its events", round, len(codes), d)
		}
	}
}
