package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/admin"
)

// TestAdminActionsSentAgainWithKey: a user action sent again with its Idempotency-Key after
// its answer was lost is answered as the first was and does nothing again: no second mail
// (resend-activation, send-reset), no 409 "already locked", no "removed 0" and no second
// notice, no 404 for the account it deleted, and one audit event each. Without a key the same
// retry mails twice, answers 409, 0 or 404 (what the key is for); another key is another
// action; the key after 24 hours is 422.
func TestAdminActionsSentAgainWithKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.clock.Advance(0)
	robot, tok := e.automation(t, admin.ScopeWrite, admin.ScopeRead)
	snap := snapshotEffects(t, e)
	reason := map[string]string{"reason": "asked by phone"}
	for _, c := range []struct {
		state, method, path string
		status              int
		body                string // of the answer, when it has one
		ifMatch             bool
	}{
		{"pending", "POST", "/resend-activation", http.StatusNoContent, "", false},
		{"active", "POST", "/send-reset", http.StatusNoContent, "", false},
		{"active", "POST", "/lock", http.StatusOK, `"status":"locked"`, true},
		{"factors", "POST", "/remove-factors", http.StatusOK, `{"removed":2}`, false},
		{"factors", "DELETE", "", http.StatusNoContent, "", true},
	} {
		t.Run(c.path+c.method, func(t *testing.T) {
			u := sweepUser(t, e, c.state)
			path := "/users/" + u.ID + c.path
			var headers []string
			if c.ifMatch {
				headers = append(headers, "If-Match", e.call(t, "GET", "/users/"+u.ID, tok, nil).header.Get("ETag"))
			}
			send := func(key string) apiAnswer {
				return e.call(t, c.method, path, tok, reason, append([]string{"Idempotency-Key", key}, headers...)...)
			}
			before := snap()
			first := send("k-" + u.ID)
			once := snap().minus(before)
			if first.status != c.status || (c.body != "" && !strings.Contains(first.body, c.body)) {
				t.Fatalf("first: %d %s", first.status, first.body)
			}
			again := send("k-" + u.ID)
			if again.status != first.status || (c.body != "" && !strings.Contains(again.body, c.body)) {
				t.Errorf("sent again with its key: %d %s, the first answered %d %s", again.status, again.body, first.status, first.body)
			}
			if all := snap().minus(before); !sameEffects(all, once) {
				t.Errorf("sent again with its key: the two wrote %v, the first alone %v", all, once)
			}
			// Without a key, the retry is a second request (the mails' is a second mail).
			unkeyed := e.call(t, c.method, path, tok, reason, headers...)
			switch c.state {
			case "pending", "active":
				if c.path != "/lock" && (unkeyed.status != c.status || sameEffects(snap().minus(before), once)) {
					t.Errorf("without a key: %d, wrote %v (want a second mail)", unkeyed.status, snap().minus(before))
				}
			}
			// The key a day later is refused: the event keeps its id, a second would be lost.
			e.clock.Advance(admin.IdempotencyWindow + time.Minute)
			tok = e.scopedToken(t, robot, admin.ScopeWrite, admin.ScopeRead)
			send("k-"+u.ID).problem(t, http.StatusUnprocessableEntity)
		})
	}
}
