package ui

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/deviceapproval"
	"github.com/myaccount/myaccount/internal/devicecode"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/storage"
)

// The device page (RFC 8628 §3.3): a person enters the code a TV or a command-line tool
// shows, signs in, and approves or denies. User codes are short (20^8), so looking one up is
// rate-limited per client IP in SQL (guard.DeviceCodeGuess): an attacker cannot find live
// codes by guessing.

func (h *Handler) mountDevice(r *mux.Router) {
	r.HandleFunc("/device", h.deviceGet).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/device", h.devicePost).Methods(http.MethodPost)
	r.HandleFunc("/device/decision", h.deviceDecision).Methods(http.MethodPost)
}

type devicePage struct {
	common
	Step       string // "enter", "confirm" or "done"
	UserCode   string // as shown: BCDF-GHJK (or what was typed, on an error)
	Error      string
	ClientName string
	DeviceName string
	Email      string
	Scopes     []string
	Approved   bool
}

// deviceGet shows the form; verification_uri_complete fills in the code, which the person
// still confirms (a link cannot approve anything by itself).
//
// entered=1 marks the way back from the sign-in the code form sent the person to: they have
// entered the code already, so a signed-in person goes straight to the confirmation (which
// still needs their click) instead of the same code form a second time.
func (h *Handler) deviceGet(w http.ResponseWriter, r *http.Request) {
	shown := r.URL.Query().Get("user_code")
	if code := devicecode.Normalize(shown); code != "" {
		shown = devicecode.Format(code)
	}
	if done := r.URL.Query().Get("done"); done == "approved" || done == "denied" {
		h.deviceDone(w, r, done)
		return
	}
	if r.URL.Query().Get("entered") == "1" && r.Method == http.MethodGet {
		s, u, ok := h.optionalSession(w, r)
		if !ok {
			return
		}
		if s != nil {
			if l := h.lookupDevice(w, r, shown, u); l != nil {
				h.renderDeviceConfirm(w, r, l, u)
			}
			return
		}
	}
	h.renderDeviceEnter(w, r, shown, "", http.StatusOK)
}

func (h *Handler) renderDeviceEnter(w http.ResponseWriter, r *http.Request, shown, msg string, status int) {
	// The session gives the page its person's language: a failure to read it is ours, not
	// a page in another language.
	_, u, ok := h.optionalSession(w, r)
	if !ok {
		return
	}
	c := h.commonFor(w, r, i18n.N("Connect a device"), u)
	if msg != "" {
		msg = c.T(msg)
	}
	h.render(w, r, status, "device", devicePage{common: c, Step: "enter", UserCode: truncate(shown, 32), Error: msg})
}

// devicePost looks up the entered code and, once the person is signed in, asks them to
// approve it.
func (h *Handler) devicePost(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	typed := r.PostFormValue("user_code")
	s, u, ok := h.optionalSession(w, r)
	if !ok {
		return
	}
	l := h.lookupDevice(w, r, typed, u)
	if l == nil {
		return
	}
	if s == nil {
		h.deviceSignIn(w, r, l.Code.UserCode)
		return
	}
	h.renderDeviceConfirm(w, r, l, u)
}

// renderDeviceConfirm asks the signed-in person to approve or deny the device.
func (h *Handler) renderDeviceConfirm(w http.ResponseWriter, r *http.Request, l *deviceapproval.Request, u *storage.User) {
	c := h.commonFor(w, r, i18n.N("Connect a device"), u)
	h.render(w, r, http.StatusOK, "device", devicePage{
		common: c, Step: "confirm", UserCode: devicecode.Format(l.Code.UserCode),
		ClientName: l.Client.Name, DeviceName: l.Code.DeviceName, Email: u.Email,
		Scopes: describeScopes(c, l.Code.Scopes),
	})
}

// deviceSignIn sends the person to the normal sign-in page, which comes back to the device
// page with the code filled in.
func (h *Handler) deviceSignIn(w http.ResponseWriter, r *http.Request, code string) {
	back := "/device?" + url.Values{"user_code": {devicecode.Format(code)}, "entered": {"1"}}.Encode()
	http.Redirect(w, r, "/login?return="+url.QueryEscape(back), http.StatusSeeOther)
}

// deviceDecision records Approve or Deny for the signed-in person.
func (h *Handler) deviceDecision(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	typed := r.PostFormValue("user_code")
	s, u, ok := h.optionalSession(w, r)
	if !ok {
		return
	}
	if s == nil {
		h.deviceSignIn(w, r, devicecode.Normalize(typed))
		return
	}
	l := h.lookupDevice(w, r, typed, u)
	if l == nil {
		return
	}
	approved := r.PostFormValue("decision") == "approve"
	m := h.meta(r, h.lang(r, u))
	m.ClientID = l.Client.ID
	event := "device_denied"
	if approved {
		event = "device_approved"
	}
	err := h.cfg.Devices.Decide(r.Context(), l, approved, s, h.cfg.Accounts.EventIn(u.ID, event, m, l.Code.DeviceName))
	switch {
	case errors.Is(err, deviceapproval.ErrNeedsMFA):
		// The product requires two-step verification and this session has not done it: set up
		// a factor first, or sign in again (with the second step) and come back.
		e, err := h.enrolled(r, u)
		if err != nil {
			// Ours: sent to sign in again, the person would be asked for a factor they may
			// not have, and told nothing of the outage.
			h.fail(w, r, "device code: read factors", err)
			return
		}
		if !e.Strong() {
			http.Redirect(w, r, "/account/security?enrol=1", http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, "/login?reauth=1&return="+url.QueryEscape("/device?user_code="+devicecode.Format(l.Code.UserCode)), http.StatusSeeOther)
		return
	case errors.Is(err, deviceapproval.ErrUnknown):
		// Expired meanwhile, or answered in another tab.
		h.renderDeviceEnter(w, r, devicecode.Format(l.Code.UserCode), msgDeviceUnknown, http.StatusOK)
		return
	case err != nil:
		h.fail(w, r, "decide device code", err)
		return
	}
	h.cfg.Logger.InfoContext(r.Context(), "device code decided", "approved", approved, "client_id", l.Client.ID, "user_id", u.ID)
	h.deviceDecided(w, r, approved, l.Client.ID)
}

// deviceDecided redirects to the result page of a decision. Post/redirect/get: the result
// page survives a reload and the language switcher.
func (h *Handler) deviceDecided(w http.ResponseWriter, r *http.Request, approved bool, clientID string) {
	done := "denied"
	if approved {
		done = "approved"
	}
	http.Redirect(w, r, "/device?"+url.Values{"done": {done}, "client_id": {clientID}}.Encode(), http.StatusSeeOther)
}

// deviceDone shows the result of a decision (after the redirect from deviceDecision).
func (h *Handler) deviceDone(w http.ResponseWriter, r *http.Request, done string) {
	_, u, ok := h.optionalSession(w, r) // the person's language, as on the code form
	if !ok {
		return
	}
	approved := done == "approved"
	title := i18n.N("Request denied")
	if approved {
		title = i18n.N("Device connected")
	}
	c := h.commonFor(w, r, title, u)
	name := ""
	cl, err := h.cfg.Store.GetClient(r.Context(), r.URL.Query().Get("client_id"))
	switch {
	case storage.Failed(err):
		// Not a page without the device's name: ours.
		h.fail(w, r, "device result: read the application", err)
		return
	case err == nil:
		name = cl.Name
	}
	h.render(w, r, http.StatusOK, "device", devicePage{common: c, Step: "done", Approved: approved, ClientName: name})
}

var msgDeviceUnknown = i18n.N("This code is unknown or has expired. Check the code on your device, or start again there.")

// lookupDevice finds the pending, unexpired device code for what was typed, for person u
// (nil when nobody is signed in); the rules, guessing limit included, are deviceapproval's.
// Otherwise it answers and returns nil: the code form again with what was typed and why, or,
// for a code u already answered (the form sent twice, or the answer lost), that answer's
// result page, as the first time.
func (h *Handler) lookupDevice(w http.ResponseWriter, r *http.Request, typed string, u *storage.User) *deviceapproval.Request {
	ctx := r.Context()
	userID := ""
	if u != nil {
		userID = u.ID
	}
	req, err := h.cfg.Devices.Lookup(ctx, typed, h.cfg.ClientIP(r), userID)
	msg, status := "", http.StatusOK
	switch {
	case err == nil:
		return req
	case errors.Is(err, deviceapproval.ErrDecided):
		h.deviceDecided(w, r, req.Code.State == storage.DeviceApproved, req.Client.ID)
		return nil
	case errors.Is(err, deviceapproval.ErrMalformed):
		msg = i18n.N("That is not a valid code. Check the code shown on your device and try again.")
	case errors.Is(err, deviceapproval.ErrUnknown):
		msg = msgDeviceUnknown
	case errors.Is(err, deviceapproval.ErrTooManyGuesses):
		h.cfg.Logger.WarnContext(ctx, "too many device code lookups", "ip", h.cfg.ClientIP(r))
		msg, status = i18n.N("Too many requests. Please try again later."), http.StatusTooManyRequests
	default:
		h.cfg.Logger.ErrorContext(ctx, "device code lookup", "err", err)
		msg, status = i18n.N("Please try again in a moment."), http.StatusInternalServerError
	}
	h.renderDeviceEnter(w, r, typed, msg, status)
	return nil
}
