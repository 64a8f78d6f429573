package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestPasswordChangeFailureIsRetryable: a password change whose store calls fail once each
// (the new hash, ending the sessions and grants) answers 503 and changes nothing: the other
// browser's session lives, and the same form posted again completes the change, ending it.
// Before, the new password was saved on its own: the other sessions stayed live and the
// retry was told its current password was wrong.
func TestPasswordChangeFailureIsRetryable(t *testing.T) {
	t.Parallel()
	// The notice, its token and the activity event commit with the change (noticeIn).
	for _, m := range []string{"UpdateUser", "ListSessions", "ListGrants", "RevokeUserSessions", "RevokeUserClientGrants",
		"AddAuditEvent", "CreateOneTimeToken", "EnqueueOutbox"} {
		t.Run(m, func(t *testing.T) {
			t.Parallel()
			e, fs := faultEnv(t, nil)
			e.addUser("ada@example.com")
			fp := e.addClient(storage.ClientConfidential, firstParty)
			b, other := e.browser(), e.browser()
			e.signIn(b, fp, "ada@example.com")
			e.signIn(other, fp, "ada@example.com")
			form := b.get(e.issuer + "/account").formValues()
			form = url.Values{"csrf_token": {form.Get("csrf_token")}, "current": {testPassword},
				"password": {"a new long passphrase"}, "confirm": {"a new long passphrase"}}
			rule := fs.Add(faultstore.Rule{Method: m, Times: 1, Err: faultstore.ErrInjected})
			p := b.post(e.issuer+"/account/password", form)
			fs.Clear()
			if fs.Applied(rule) != 1 || p.status != http.StatusServiceUnavailable {
				t.Fatalf("%s failing: %d at %s (applied %d), want 503", m, p.status, p.url, fs.Applied(rule))
			}
			if got := other.get(e.issuer + "/account"); got.url.Path != "/account" {
				t.Fatalf("%s failing: the other browser was signed out (%s): the change was half made", m, got.url)
			}
			if p := b.post(e.issuer+"/account/password", form); p.status != http.StatusOK || p.url.Path != "/account" {
				t.Fatalf("retry: %d at %s", p.status, p.url)
			}
			if got := other.get(e.issuer + "/account"); got.url.Path != "/login" {
				t.Errorf("after the change the other browser is still signed in (%s)", got.url)
			}
		})
	}
}

// TestAccountDeletionFailureIsRetryable: deleting one's account while its goodbye mail
// cannot be queued answers 503 and deletes nothing; the retry deletes it and mails the
// goodbye once. Before, the deletion committed and the mail was sent after it, best effort:
// a failure there left the person with no word that their account was gone.
func TestAccountDeletionFailureIsRetryable(t *testing.T) {
	t.Parallel()
	e, fs := faultMailEnv(t)
	ctx := context.Background()
	u := e.addUser("ada@example.com")
	b := e.signedInBrowser("ada@example.com")
	csrf := b.get(e.issuer + "/account").formValues().Get("csrf_token")
	form := url.Values{"csrf_token": {csrf}, "current": {testPassword}}
	rule := fs.Add(faultstore.Rule{Method: "EnqueueOutbox", Times: 1, Err: faultstore.ErrInjected})
	p := b.post(e.issuer+"/account/delete", form)
	fs.Clear()
	if fs.Applied(rule) != 1 || p.status != http.StatusServiceUnavailable {
		t.Fatalf("deletion with its mail failing: %d at %s (applied %d), want 503", p.status, p.url, fs.Applied(rule))
	}
	if _, err := e.store.GetUser(ctx, u.ID); err != nil {
		t.Fatalf("the account is gone after the 503: %v", err)
	}
	b.post(e.issuer+"/account/delete", form)
	if _, err := e.store.GetUser(ctx, u.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the retry did not delete the account: %v", err)
	}
	e.smtp.WaitFor(t, "ada@example.com", mailWait)
	settle()
	if n := mailsTo(e, "ada@example.com"); n != 1 {
		t.Errorf("%d goodbye mails, want 1", n)
	}
}

// TestSignOutOthersFailureIsRetryable: "sign out other sessions" commits with its activity
// event: when the event cannot be written, the answer is 503 and the other browser stays
// signed in; the retry signs it out, with one event. Before, the sign-out committed and the
// event was written after it, best effort.
func TestSignOutOthersFailureIsRetryable(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	fp := e.addClient(storage.ClientConfidential, firstParty)
	e.addUser("ada@example.com")
	b, other := e.browser(), e.browser()
	e.signIn(b, fp, "ada@example.com")
	e.signIn(other, fp, "ada@example.com")
	form := url.Values{"csrf_token": {b.get(e.issuer + "/account").formValues().Get("csrf_token")}}
	rule := fs.Add(faultstore.Rule{Method: "AddAuditEvent", Times: 1, Err: faultstore.ErrInjected})
	p := b.post(e.issuer+"/account/signout-others", form)
	fs.Clear()
	if fs.Applied(rule) != 1 || p.status != http.StatusServiceUnavailable {
		t.Fatalf("sign-out with its event failing: %d (applied %d), want 503", p.status, fs.Applied(rule))
	}
	if got := other.get(e.issuer + "/account"); got.url.Path != "/account" {
		t.Fatalf("the other browser was signed out by the failed request (%s)", got.url)
	}
	b.post(e.issuer+"/account/signout-others", form)
	if got := other.get(e.issuer + "/account"); got.url.Path != "/login" {
		t.Errorf("after the retry the other browser is still signed in (%s)", got.url)
	}
	if n := e.events(t, "ada@example.com", "signed_out_everywhere"); n != 1 {
		t.Errorf("%d signed_out_everywhere events, want 1", n)
	}
}

// TestDeviceDecisionFailureIsRetryable: approving a device commits with its activity event:
// when the event cannot be written the answer is 503 and the code stays undecided, so the
// same confirmation page approves it on the retry, with one event.
func TestDeviceDecisionFailureIsRetryable(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	ctx := context.Background()
	e.addUser("ada@example.com")
	c := e.deviceClient(storage.ClientNative)
	prov := e.provider(ctx)
	cfg := &oauth2.Config{ClientID: c.ID, Endpoint: prov.Endpoint(), Scopes: []string{gooidc.ScopeOpenID}}
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := e.signedInBrowser("ada@example.com")
	confirm := e.enterCode(b, da.UserCode)
	rule := fs.Add(faultstore.Rule{Method: "AddAuditEvent", Times: 1, Err: faultstore.ErrInjected})
	p := b.decide(confirm, "approve")
	fs.Clear()
	if fs.Applied(rule) != 1 || p.status != http.StatusServiceUnavailable {
		t.Fatalf("approval with its event failing: %d (applied %d), want 503", p.status, fs.Applied(rule))
	}
	dc, err := e.store.GetDeviceCodeByUserCode(ctx, strings.ReplaceAll(da.UserCode, "-", ""))
	if err != nil || dc.State != storage.DevicePending {
		t.Fatalf("after the 503 the code is %+v (%v), want pending", dc, err)
	}
	b.decide(confirm, "approve")
	if dc, err := e.store.GetDeviceCodeByUserCode(ctx, strings.ReplaceAll(da.UserCode, "-", "")); err != nil || dc.State != storage.DeviceApproved {
		t.Fatalf("after the retry the code is %+v (%v), want approved", dc, err)
	}
	if n := e.events(t, "ada@example.com", "device_approved"); n != 1 {
		t.Errorf("%d device_approved events, want 1", n)
	}
}
