package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// A failure of ours after a second-step code was found good must not spend the code: the
// person is answered 503 "try again", and the same code then signs them in. (Spending it
// before the session is stored used to leave a recovery code burned and a TOTP code refused
// as a replay on the retry.)

// mfaRetry posts a code to /mfa with the CSRF token of the two-step page p, as the same form
// sent again after a 503 page.
func mfaRetry(b *browser, p *page, method, code string) *page {
	b.t.Helper()
	return b.post(b.issuer+"/mfa", url.Values{"csrf_token": {p.formValues().Get("csrf_token")}, "method": {method}, "code": {code}})
}

// mustUnavailable fails unless p is our 503 "try again" answer.
func mustUnavailable(t testing.TB, what string, p *page) {
	t.Helper()
	if p.status != http.StatusServiceUnavailable {
		t.Fatalf("%s: %d at %s, want 503:\n%.800s", what, p.status, p.url, p.body)
	}
}

func TestMFAFaultRecoveryCodeNotBurned(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	e.clock.Advance(0)
	const email = "recovery.fault@example.com"
	u := e.addUser(email)
	b := e.browser()
	e.passwordSignIn(b, email)
	_, p := e.enrolTOTP(b, b.get(e.issuer+"/account/security"), "")
	codes := recoveryCodes(p)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10", len(codes))
	}
	e.signOut(b)
	unused := func() int {
		t.Helper()
		n, err := e.store.CountRecoveryCodes(context.Background(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// The session cannot be stored: 503, the code stays unused, and the same code works.
	p = e.passwordSignIn(b, email)
	fs.Add(faultstore.Rule{Method: "CreateSession", Times: 1, Err: faultstore.ErrInjected})
	got := b.mfaPost(p, "recovery_code", codes[0], false)
	fs.Clear()
	mustUnavailable(t, "recovery code while the session cannot be stored", got)
	if n := unused(); n != 10 {
		t.Fatalf("after a failed session start %d unused recovery codes, want 10 (the code was burned)", n)
	}
	got = mfaRetry(b, p, "recovery_code", codes[0])
	mustAt(t, got, "/account", "Your account")
	if n := unused(); n != 9 {
		t.Errorf("after the retry %d unused recovery codes, want 9", n)
	}
	e.signOut(b)

	// Clearing the typo counters is bookkeeping: its failure does not fail the sign-in.
	p = e.passwordSignIn(b, email)
	fs.Add(faultstore.Rule{Method: "ResetCounter", Times: 1, Err: faultstore.ErrInjected})
	got = b.mfaPost(p, "recovery_code", codes[1], false)
	fs.Clear()
	mustAt(t, got, "/account", "Your account")
	if n := unused(); n != 8 {
		t.Errorf("%d unused recovery codes, want 8", n)
	}
	e.signOut(b)

	// A spent code is still refused as wrong.
	p = e.passwordSignIn(b, email)
	got = b.mfaPost(p, "recovery_code", codes[0], false)
	mustAt(t, got, "/mfa", "The code is not correct.")
}

func TestMFAFaultTOTPCodeNotReplay(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	e.clock.Advance(0) // a still clock: the retry is within the same code's window
	const email = "totp.fault@example.com"
	b, key := e.userWithTOTP(email)

	for _, m := range []string{"CreateSession", "ResetCounter"} {
		p := e.passwordSignIn(b, email)
		code := e.totpNow(key)
		fs.Add(faultstore.Rule{Method: m, Times: 1, Err: faultstore.ErrInjected})
		got := b.mfaPost(p, "totp", code, false)
		fs.Clear()
		if m == "ResetCounter" {
			// Bookkeeping only: the sign-in goes on.
			mustAt(t, got, "/account", "Your account")
		} else {
			mustUnavailable(t, "app code while the session cannot be stored", got)
			got = mfaRetry(b, p, "totp", code)
			mustAt(t, got, "/account", "Your account") // not "This code was already used"
		}
		e.signOut(b)
		// Once signed in with it, the code is a replay.
		p = e.passwordSignIn(b, email)
		got = b.mfaPost(p, "totp", code, false)
		mustAt(t, got, "/mfa", "This code was already used")
		e.nextTOTPStep()
	}
}

func TestMFAFaultEmailCodeNotSpent(t *testing.T) {
	t.Parallel()
	var fs *faultstore.Store
	e := newEnvWith(t, envOptions{smtp: mailtest.NewServer(t),
		configure: func(c *config.Config) { c.MFA.EmailCodeForNewBrowsers = true },
		wrapStore: func(s storage.Store) storage.Store { fs = faultstore.New(s); return fs }})
	e.clock.Advance(0)
	const email = "email.fault@example.com"
	e.addUser(email)

	for _, m := range []string{"CreateSession", "ResetCounter"} {
		b := e.browser() // a new browser: its sign-in asks for an emailed code
		p := e.passwordSignIn(b, email)
		mustEmailCodeStep(t, p, email)
		code := e.signInCode(email)
		fs.Add(faultstore.Rule{Method: m, Times: 1, Err: faultstore.ErrInjected})
		got := b.mfaPost(p, "email_code", code, false)
		fs.Clear()
		if m == "ResetCounter" {
			mustAt(t, got, "/account", "Your account")
			continue
		}
		mustUnavailable(t, "emailed code while the session cannot be stored", got)
		got = mfaRetry(b, p, "email_code", code)
		mustAt(t, got, "/account", "Your account")
	}
}

// TestMFAFaultEmailCodeResendKeepsTheCode: "send a new code" whose mail cannot be queued (the
// outbox write fails, or the new code's) answers 503, not "we sent a new code", and the
// code the person already has still works; the failed sends count nothing against the
// resend limit. Before, the new code voided the old one first and a failure to queue its
// mail was only logged: the page said a new code was sent and the person held none that
// worked.
func TestMFAFaultEmailCodeResendKeepsTheCode(t *testing.T) {
	t.Parallel()
	var fs *faultstore.Store
	e := newEnvWith(t, envOptions{smtp: mailtest.NewServer(t),
		configure: func(c *config.Config) { c.MFA.EmailCodeForNewBrowsers = true },
		wrapStore: func(s storage.Store) storage.Store { fs = faultstore.New(s); return fs }})
	e.clock.Advance(0) // a still clock: the resend limit's window does not move
	const email = "email.resend@example.com"
	e.addUser(email)
	b := e.browser()
	p := e.passwordSignIn(b, email)
	mustEmailCodeStep(t, p, email)
	code := e.signInCode(email) // send 1 of the 3 guard.EmailCode allows in its window
	// More failed resends than the limit has left: none may count, none may void the code.
	for i, m := range []string{"EnqueueOutbox", "CreateOneTimeToken", "EnqueueOutbox"} {
		fs.Add(faultstore.Rule{Method: m, Times: 1, Err: faultstore.ErrInjected})
		got := b.emailResend(p)
		fs.Clear()
		mustUnavailable(t, "resend "+strconv.Itoa(i)+" ("+m+" fails)", got)
	}
	if n := e.mailCount(); n != 1 {
		t.Errorf("%d mails, want the first code's only", n)
	}
	mustAt(t, b.mfaPost(p, "email_code", code, false), "/account", "Your account")

	// Sends 2 and 3 (another new browser, then its resend) go out; the fourth is refused.
	b2 := e.browser()
	p = e.passwordSignIn(b2, email)
	mustEmailCodeStep(t, p, email)
	e.signInCode(email)
	mustAt(t, b2.emailResend(p), "/mfa", "We sent a new code.")
	e.signInCode(email)
	mustAt(t, b2.emailResend(p), "/mfa", "Too many requests. Please try again later.")
}

// TestMFAFaultSecondStepNoticeNotLost: the owner's notice that someone passed the password
// but failed the second step goes out at most once an hour; when queueing it fails, the
// hour's count is not spent, and the next wrong code sends it. Before, the count committed
// apart and the owner stayed untold for the hour.
func TestMFAFaultSecondStepNoticeNotLost(t *testing.T) {
	t.Parallel()
	var fs *faultstore.Store
	e := newEnvWith(t, envOptions{smtp: mailtest.NewServer(t),
		wrapStore: func(s storage.Store) storage.Store { fs = faultstore.New(s); return fs }})
	e.clock.Advance(0)
	const email = "notice.fault@example.com"
	b, key := e.userWithTOTP(email)
	before := e.mailCount()

	p := e.passwordSignIn(b, email)
	wrong := otherCode(t, e.totpNow(key))
	r := fs.Add(faultstore.Rule{Method: "EnqueueOutbox", Times: 1, Err: faultstore.ErrInjected})
	p = b.mfaPost(p, "totp", wrong, false)
	fs.Clear()
	if fs.Applied(r) != 1 {
		t.Fatal("the wrong code queued no notice: the test tests nothing")
	}
	mustAt(t, p, "/mfa", "The code is not correct.")
	b.mfaPost(p, "totp", wrong, false)
	m := e.smtp.WaitFor(t, email, mailWait)
	if !strings.Contains(m.Subject, "entered your") {
		t.Fatalf("the mail after the second wrong code is %q, want the notice", m.Subject)
	}
	settle()
	if n := e.mailCount() - before; n != 1 {
		t.Errorf("%d notices, want 1", n)
	}
}
