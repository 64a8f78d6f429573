package ui

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/phone"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// A sign-in that has passed its first factor and waits for the next is carried in a sealed
// cookie (AES-256-GCM under a key derived from the master key): any instance can read it,
// nothing lives in process memory, and it is no credential by itself — it only says which
// account the next factor is for.
const (
	signinCookie   = "myaccount_signin"
	trustCookie    = "myaccount_trusted"
	pendingTTL     = 10 * time.Minute
	pendingPurpose = "signin-pending"
)

type pendingSignIn struct {
	// ID names this sign-in: the session its second step makes has an id derived from it
	// (sessionOf), so the step sent again after its answer was lost is told apart from a
	// stranger's spent code. Empty in cookies made before it was added.
	ID      string   `json:"i,omitempty"`
	UserID  string   `json:"u"`
	AMR     []string `json:"amr"`
	Flow    string   `json:"f,omitempty"` // authorization request to continue
	Return  string   `json:"r,omitempty"` // local page to return to otherwise
	Expires int64    `json:"e"`
	// EmailSent: an emailed code went out for this sign-in, so the second-step page offers
	// to enter it (else only to send one).
	EmailSent bool `json:"m,omitempty"`
	// Reauth: the sign-in a change to how the account signs in asks for
	// (reauthRequirement).
	Reauth bool `json:"ra,omitempty"`
}

func (h *Handler) cookieAEAD() (cipher.AEAD, error) {
	block, err := aes.NewCipher(h.cfg.Keys.SealedCookies)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealCookie sets a cookie holding v, encrypted and bound to purpose.
func (h *Handler) sealCookie(w http.ResponseWriter, name, purpose string, v any, ttl time.Duration) error {
	plain, err := json.Marshal(v)
	if err != nil {
		return err
	}
	aead, err := h.cookieAEAD()
	if err != nil {
		return err
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := aead.Seal(nonce, nonce, plain, []byte(purpose))
	http.SetCookie(w, &http.Cookie{Name: h.cookieName(name), Value: base64.RawURLEncoding.EncodeToString(sealed), Path: "/",
		MaxAge: int(ttl.Seconds()), HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	return nil
}

// openCookie decrypts a sealed cookie into v; false when absent, forged or for another purpose.
func (h *Handler) openCookie(r *http.Request, name, purpose string, v any) bool {
	c, err := r.Cookie(h.cookieName(name))
	if err != nil || len(c.Value) > 8192 {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return false
	}
	aead, err := h.cookieAEAD()
	if err != nil || len(raw) < aead.NonceSize() {
		return false
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(purpose))
	return err == nil && json.Unmarshal(plain, v) == nil
}

func (h *Handler) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: h.cookieName(name), Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
}

// pending returns the sign-in waiting for its next factor, and its user; nil when there is
// none (no cookie, expired, the account gone or one that may no longer sign in:
// storage.User.MaySignIn). A storage failure is an error: the person's sign-in has not expired
// because the database failed.
func (h *Handler) pending(r *http.Request) (*pendingSignIn, *storage.User, error) {
	var p pendingSignIn
	if !h.openCookie(r, signinCookie, pendingPurpose, &p) || h.now().Unix() > p.Expires {
		return nil, nil, nil
	}
	u, err := h.cfg.Store.GetUser(r.Context(), p.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, fmt.Errorf("pending sign-in: %w", err)
	}
	if !u.MaySignIn() {
		return nil, nil, nil
	}
	return &p, u, nil
}

// requirement is what the flow (if any) demands of the sign-in.
func requirement(f *authFlow) mfa.Requirement {
	if f == nil {
		return mfa.Requirement{}
	}
	return mfa.Requirement{ClientRequiresMFA: f.client.RequireMFA, ACRValues: f.ar.ACRValues}
}

// reauthRequirement is what the sign-in a change to how the account signs in asks for
// (/login?reauth=1) needs besides req: every factor the person has, which is what
// sessions.Recent takes (mfa.Service.SignInProved). A person with an authenticator app or a
// key is asked for it even at a remembered browser, and not offered SMS in its place.
func reauthRequirement(req mfa.Requirement, e mfa.Enrolled) mfa.Requirement {
	if e.Strong() {
		req.ClientRequiresMFA = true
	}
	return req
}

// browserTrusted reports whether this browser was remembered after a second factor; an
// error is a failure to look.
func (h *Handler) browserTrusted(r *http.Request, userID string) (bool, error) {
	c, err := r.Cookie(h.cookieName(trustCookie))
	if err != nil {
		return false, nil
	}
	return h.cfg.MFA.BrowserTrusted(r.Context(), userID, c.Value)
}

// enrolled is what factors the person can be asked for in this browser.
func (h *Handler) enrolled(r *http.Request, u *storage.User) (mfa.Enrolled, error) {
	// Keys are not counted where passkeys are off (mfa.Service.NoWebAuthn).
	e, err := h.cfg.MFA.Enrolled(r.Context(), u.ID)
	if err != nil {
		return e, err
	}
	if h.cfg.EmailCodes && !e.Strong() {
		e.EmailCode = true
	}
	if h.smsOffered(e.Strong()) {
		p, err := h.verifiedPhone(r, u)
		if err != nil {
			return e, err
		}
		e.SMS = p != nil
	}
	return e, nil
}

// flowTarget is where a finished sign-in continues: the authorization request (the sign-in
// page resumes it with the new session), or a local page.
func flowTarget(flow, ret string) string {
	if flow != "" {
		return "/login?authRequestID=" + url.QueryEscape(flow)
	}
	return localPath(returnPath(ret))
}

var errNeedPassword = errors.New("ui: the password is still needed")

// errFlowGone: the sign-in succeeded (the session is set) but its authorization request
// could no longer be completed: it finished or expired since it was loaded.
var errFlowGone = errors.New("ui: the authorization request is finished or expired")

// nextStep decides what follows the evidence gathered so far and does it: a session when the
// sign-in is complete, the second-factor page when another factor is due, the security page
// when the request needs a factor the person has not set up. It returns where to send the
// browser; the session (if any) is already set. With complete, a flow whose sign-in is done
// and which needs nothing else of the person (see planCompletion) is completed together with
// the session, and the browser goes straight to the provider's callback; errFlowGone (with
// the session) when that request can no longer be completed.
//
// spend (nil: none) is the single use of the code that proved the last factor: it commits
// with the session when one starts here (finishSignIn), so that a failure of ours leaves the
// code good for a retry; when another factor is due, no session starts and the caller spends
// it on its own. reauth is the sign-in a change to how the account signs in asks for: no
// remembered browser skips a factor, and every factor the person has is due
// (reauthRequirement).
func (h *Handler) nextStep(w http.ResponseWriter, r *http.Request, u *storage.User, ev mfa.Evidence, f *authFlow, ret string, reauth, complete bool, spend mfa.Spend) (string, *storage.Session, error) {
	enrolled, err := h.enrolled(r, u)
	if err != nil {
		return "", nil, err
	}
	flow := ""
	if f != nil {
		flow = f.ar.ID
	}
	req, trusted := requirement(f), false
	if reauth {
		req = reauthRequirement(req, enrolled)
	} else if trusted, err = h.browserTrusted(r, u.ID); err != nil {
		// A sign-in that cannot tell is asked for the second step: one more proof than
		// needed, never one less, and the person can give it.
		h.cfg.Logger.WarnContext(r.Context(), "remembered browser", "err", err, "user_id", u.ID)
		trusted = false
	}
	d := mfa.NextStep(enrolled, ev, req, trusted)
	switch d.Step {
	case mfa.StepDone:
		h.clearCookie(w, signinCookie)
		var c *completion
		if complete && f != nil {
			c = h.planCompletion(r, f, u)
		}
		s, err := h.finishSignIn(w, r, u, ev, f, true, c, spend)
		switch {
		case err != nil:
			return "", nil, err
		case c == nil:
			return flowTarget(flow, ret), s, nil
		case c.gone:
			return "", s, errFlowGone
		}
		return c.target(r.Context(), h), s, nil
	case mfa.StepEnrol:
		// Stepped up, not refused: the person sets up a factor, then the request continues.
		s, err := h.finishSignIn(w, r, u, ev, f, false, nil, spend)
		q := url.Values{"enrol": {"1"}}
		if flow != "" {
			q.Set("authRequestID", flow)
		}
		return "/account/security?" + q.Encode(), s, err
	}
	if len(d.Methods) == 1 && d.Methods[0] == mfa.MethodPassword {
		return "", nil, errNeedPassword
	}
	p := pendingSignIn{ID: secret.NewID(), UserID: u.ID, AMR: ev.AMR(), Flow: flow, Return: returnPath(ret), Reauth: reauth, Expires: h.now().Add(pendingTTL).Unix()}
	next := "/mfa"
	// The code goes out at once when the first way offered is a code: by SMS when the
	// person chose it last time (or has only that), else by email.
	switch {
	case len(d.Methods) > 0 && (d.Methods[0] == mfa.MethodSMSCode ||
		(slices.Contains(d.Methods, mfa.MethodSMSCode) && u.PreferredMFA == string(mfa.MethodSMSCode))):
		if err := h.sendSMSCode(r, u); errors.Is(err, phone.ErrRefused) {
			next = "/mfa?limited=1"
		} else if err != nil {
			return "", nil, err
		}
	case len(d.Methods) > 0 && d.Methods[0] == mfa.MethodEmailCode:
		sent, err := h.sendEmailCode(r, u)
		if err != nil {
			return "", nil, err
		}
		p.EmailSent = sent
		if !sent {
			next = "/mfa?limited=1"
		}
	}
	if err := h.sealCookie(w, signinCookie, pendingPurpose, p, pendingTTL); err != nil {
		return "", nil, err
	}
	return next, nil, nil
}

// finishSignIn starts the session of a sign-in that needs no other factor now, in one
// transaction with the rest of what it writes: the browser binding's new secret (see
// newBinding), the "login" event (when login: not for a person who must first set up a
// factor), the owner's "new sign-in" notice when this browser carries no device cookie for u
// (it never signed in to u, or another account signed in here since) and no emailed code
// was entered in this sign-in, the completion of c's request (nil: none) and the single use
// of the code that proved the last factor (spend, nil: none). The event and the notice are
// best effort (see account.SignInRecords). Then it sets the cookies, among them the device
// cookie.
func (h *Handler) finishSignIn(w http.ResponseWriter, r *http.Request, u *storage.User, ev mfa.Evidence, f *authFlow, login bool, c *completion, spend mfa.Spend) (*storage.Session, error) {
	m := h.withDevice(r, h.meta(r, h.lang(r, u)))
	if f != nil {
		m.ClientID = f.client.ID
	}
	step, _ := r.Context().Value(secondStepKey{}).(string)
	rec := h.cfg.Accounts.SignInRecords(r.Context(), account.SignedIn{User: u, Meta: m, Login: login, AMR: ev.AMR(),
		NewBrowser: m.DeviceUser != u.ID && !ev.EmailCode, SecondStep: step})
	bind := h.newBinding(r, f)
	start := func(records *account.SignInRecords) (*storage.Session, error) {
		return h.startSession(w, r, u, ev, func(ctx context.Context, tx storage.Store, s *storage.Session) error {
			if spend != nil {
				if err := spend(ctx, tx); err != nil {
					return err
				}
			}
			if err := bind.store(ctx, tx); err != nil {
				return fmt.Errorf("re-issue browser binding: %w", err)
			}
			if records != nil {
				if err := records.Write(ctx, tx); err != nil {
					return err
				}
			}
			return c.store(ctx, tx, s)
		})
	}
	s, err := start(rec)
	if err != nil && rec.Failed() {
		// The event or the notice could not be stored: they are best effort, so the sign-in
		// starts without them and they are written apart.
		h.cfg.Logger.WarnContext(r.Context(), "sign-in records", "err", err, "user_id", u.ID)
		if s, err = start(nil); err == nil {
			rec.WriteApart(r.Context())
		}
	}
	if err != nil {
		return nil, err
	}
	h.setBinding(w, f, bind)
	rec.Committed(r.Context())
	h.setDeviceCookie(w, u.ID)
	return s, nil
}

// completion is an authorization request to complete in the transaction that starts the
// session.
type completion struct {
	f *authFlow
	// code, when the provider issued one, is stored with the completion, and the browser
	// goes straight to the client with it (see Config.IssueCode).
	code *IssuedCode
	// gone: the request could not be completed (finished or expired since it was loaded);
	// the session stands.
	gone bool
}

// IssuedCode is an authorization code to store with its completed request: its hash and
// expiry, and the authorization response that carries it to the client.
type IssuedCode struct {
	Hash      string
	ExpiresAt time.Time
	Redirect  string
}

// newCompletion plans the completion of f, with its code when the provider issues it here.
func (h *Handler) newCompletion(f *authFlow) *completion {
	c := &completion{f: f}
	if h.cfg.IssueCode != nil {
		if ic, ok := h.cfg.IssueCode(f.ar); ok {
			c.code = &ic
		}
	}
	return c
}

// target is where the browser goes once c is stored: to the client with the code, or to
// the provider's callback, which issues it.
func (c *completion) target(ctx context.Context, h *Handler) string {
	if c.code != nil {
		return c.code.Redirect
	}
	return h.cfg.CallbackURL(ctx, c.f.ar.ID)
}

// planCompletion returns the request f as a completion when, signed in as u, it needs
// nothing more of the person (the decision proceed would take: hint, profile, consent); nil
// when another step is due or the decision failed, which proceed then answers after the
// session starts, from the same decision (decideFlow).
func (h *Handler) planCompletion(r *http.Request, f *authFlow, u *storage.User) *completion {
	if d := h.decideFlow(r, f, u.ID, u); d.err != nil || d.next != flowComplete {
		return nil
	}
	return h.newCompletion(f)
}

// store completes the request with the session s, and stores its code if it has one (nil c:
// nothing to do). A request that can no longer be completed is no failure of the
// transaction: the sign-in stands.
func (c *completion) store(ctx context.Context, tx interface {
	CompleteAuthRequest(ctx context.Context, id, userID, sessionID string, authTime time.Time, amr []string, acr string) error
	SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt time.Time) error
}, s *storage.Session) error {
	if c == nil {
		return nil
	}
	err := tx.CompleteAuthRequest(ctx, c.f.ar.ID, s.UserID, s.ID, s.AuthTime, s.AMR, mfa.EvidenceFromAMR(s.AMR).ACR())
	c.gone = errors.Is(err, storage.ErrNotFound)
	if err != nil && !c.gone {
		return fmt.Errorf("complete auth request: %w", err)
	}
	if c.gone || c.code == nil {
		return nil
	}
	if err := tx.SaveAuthCode(ctx, c.f.ar.ID, c.code.Hash, c.code.ExpiresAt); err != nil {
		return fmt.Errorf("save auth code: %w", err)
	}
	return nil
}

// sendEmailCode mails a fresh sign-in code, at most a few per ten minutes (guard.EmailCode);
// sent is false when the limit is reached. The count, the code and its mail are one
// transaction (account.Service.SendSignInCodeWith). A storage failure is an error: the
// person must not be told they asked too often, or that a code was sent, when the database
// failed.
func (h *Handler) sendEmailCode(r *http.Request, u *storage.User) (sent bool, err error) {
	code, _ := mfa.NewEmailCode(u.ID)
	sent, err = h.cfg.Accounts.SendSignInCodeWith(r.Context(), u, code, h.meta(r, h.lang(r, u)),
		func(ctx context.Context, tx storage.Store) (bool, error) {
			g := &guard.Guard{Store: tx, Now: h.cfg.Guard.Now}
			if ok, err := g.Allow(ctx, guard.EmailCode, u.ID); err != nil || !ok {
				return false, err
			}
			return true, h.cfg.MFA.StoreEmailCode(ctx, tx, u.ID, code)
		})
	if err != nil {
		return false, fmt.Errorf("send email code: %w", err)
	}
	return sent, nil
}
