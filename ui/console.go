package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// The admin console (issue 13): server-rendered pages under /admin for people with the admin
// or support role. Every decision about who may do what is admin.Service's; the console only
// shows or hides forms by asking the actor (Actor.Can), and maps the service's typed errors
// to pages. It needs a session that carries a second factor: a session without one is sent
// through the usual second-factor page first (see consoleStepUp).

const consoleHome = "/admin"

func (h *Handler) mountConsole(r *mux.Router) {
	if h.cfg.Admin == nil {
		return
	}
	get := []string{http.MethodGet, http.MethodHead}
	r.HandleFunc("/admin", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/users", http.StatusFound)
	}).Methods(get...)
	r.HandleFunc("/admin/verify", h.consoleStepUp).Methods(http.MethodPost)
	r.HandleFunc("/admin/users", h.consoleUsers).Methods(get...)
	r.HandleFunc("/admin/users/{id}", h.consoleUser).Methods(get...)
	r.HandleFunc("/admin/users/{id}/{action}", h.consoleUserAction).Methods(http.MethodPost)
	r.HandleFunc("/admin/clients", h.consoleClients).Methods(get...)
	r.HandleFunc("/admin/clients", h.consoleClientCreate).Methods(http.MethodPost)
	r.HandleFunc("/admin/clients/{id}", h.consoleClient).Methods(get...)
	r.HandleFunc("/admin/clients/{id}", h.consoleClientUpdate).Methods(http.MethodPost)
	r.HandleFunc("/admin/clients/{id}/rotate", h.consoleClientRotate).Methods(http.MethodPost)
	r.HandleFunc("/admin/audit", h.consoleAudit).Methods(get...)
	r.HandleFunc("/admin/keys", h.consoleKeys).Methods(get...)
	r.HandleFunc("/admin/keys/rotate", h.consoleKeysRotate).Methods(http.MethodPost)
}

// staff is the signed-in console user: their session, account and actor.
type staff struct {
	s     *storage.Session
	u     *storage.User
	actor admin.Actor
	lang  string
}

// consolePage is what every console page gets: the navigation shows only the sections the
// actor may open.
type consolePage struct {
	common
	Section        string
	Staff          string // the signed-in person's email
	CanSupport     bool
	CanManageUsers bool
	CanClients     bool
	CanEditClients bool
	CanAudit       bool
	CanKeys        bool
	Flash          string
	Nav            []consoleNavItem
}

type consoleNavItem struct {
	Href, Label string
	Current     bool
}

// who answers whether this request comes from staff. It redirects a signed-out browser to
// sign-in, refuses people without a console role (403, nothing more said), and shows the
// second-factor step-up page to a session without MFA; ok is false whenever it answered.
func (h *Handler) who(w http.ResponseWriter, r *http.Request) (*staff, bool) {
	ret := consoleHome
	if r.Method == http.MethodGet {
		ret = r.URL.RequestURI()
	}
	st, ok := h.staffOf(w, r, ret)
	if !ok {
		return nil, false
	}
	if st.actor.NeedsSecondFactor() {
		c := h.commonFor(w, r, i18n.N("Verify it's you"), st.u)
		p := h.consolePage(c, st, "")
		p.Nav = nil // nothing of the console before the second factor
		h.render(w, r, http.StatusForbidden, "console_stepup", p)
		return nil, false
	}
	return st, true
}

// staffOf is the signed-in person as a console actor, whether or not their session has the
// second factor the console needs: the console's pages (who) and its step-up
// (consoleStepUp) decide the same way who may come this far. ok is false whenever it
// answered: no session (to sign in, returning to ret), no console role (403), or ours. A
// session that cannot be read is our failure (503), not a signed-out browser: sent to sign in
// again, a form's reason was lost and the person told nothing of the outage.
func (h *Handler) staffOf(w http.ResponseWriter, r *http.Request, ret string) (*staff, bool) {
	s, u, ok := h.optionalSession(w, r)
	if !ok {
		return nil, false
	}
	if s == nil {
		http.Redirect(w, r, "/login?return="+url.QueryEscape(returnPath(ret)), http.StatusSeeOther)
		return nil, false
	}
	// A console session may use every scope: the person's roles alone decide (Actor.Effective).
	actor, err := h.cfg.Admin.PersonActor(r.Context(), u.ID, "", admin.AllScopes, s.AMR, h.cfg.ClientIP(r), truncate(r.UserAgent(), 256))
	if err != nil && !errors.Is(err, admin.ErrForbidden) {
		h.fail(w, r, "console actor", err)
		return nil, false
	}
	if err != nil || !actor.Can(admin.ReadUsers) && !actor.NeedsSecondFactor() {
		h.consoleForbidden(w, r)
		return nil, false
	}
	return &staff{s: s, u: u, actor: actor, lang: h.lang(r, u)}, true
}

// whoPost checks a console form post: CSRF first, then who.
func (h *Handler) whoPost(w http.ResponseWriter, r *http.Request) (*staff, bool) {
	if !h.parsePost(w, r) {
		return nil, false
	}
	return h.who(w, r)
}

func (h *Handler) consoleForbidden(w http.ResponseWriter, r *http.Request) {
	h.ErrorPage(w, r, http.StatusForbidden, i18n.N("Not allowed"), i18n.N("You are not allowed to open this page."))
}

func (h *Handler) consolePage(c common, st *staff, section string) consolePage {
	a := st.actor
	p := consolePage{common: c, Section: section, Staff: st.u.Email,
		CanSupport: a.Can(admin.SupportUsers), CanManageUsers: a.Can(admin.ManageUsers),
		CanClients: a.Can(admin.ReadClients), CanEditClients: a.Can(admin.ManageClients),
		CanAudit: a.Can(admin.ReadAudit), CanKeys: h.cfg.AdminKeys != nil && a.Can(admin.ReadClients)}
	add := func(ok bool, href, label, sec string) {
		if ok {
			p.Nav = append(p.Nav, consoleNavItem{Href: href, Label: label, Current: sec == section})
		}
	}
	add(true, "/admin/users", i18n.N("People"), "users")
	add(p.CanClients, "/admin/clients", i18n.N("Clients"), "clients")
	add(p.CanAudit, "/admin/audit", i18n.N("Audit log"), "audit")
	add(p.CanKeys, "/admin/keys", i18n.N("Signing keys"), "keys")
	return p
}

// consoleStepUp sends a staff session without a second factor through the second-factor page:
// the sign-in waiting for its next factor is this session's evidence, returning to the console.
// A remembered browser does not skip it (trusted is false): the console always needs MFA.
func (h *Handler) consoleStepUp(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	st, ok := h.staffOf(w, r, consoleHome)
	if !ok {
		return
	}
	s, u := st.s, st.u
	ev := mfa.EvidenceFromAMR(s.AMR)
	enrolled, err := h.enrolled(r, u)
	if err != nil {
		h.fail(w, r, "console step-up", err)
		return
	}
	d := mfa.NextStep(enrolled, ev, mfa.Requirement{ClientRequiresMFA: true}, false)
	switch {
	case d.Step == mfa.StepDone:
		http.Redirect(w, r, consoleHome, http.StatusSeeOther)
		return
	case d.Step == mfa.StepEnrol:
		http.Redirect(w, r, "/account/security?enrol=1", http.StatusSeeOther)
		return
	case len(d.Methods) == 1 && d.Methods[0] == mfa.MethodPassword:
		// A session from a key alone: the password is the missing factor.
		http.Redirect(w, r, "/login?reauth=1&return="+url.QueryEscape(consoleHome), http.StatusSeeOther)
		return
	}
	p := pendingSignIn{ID: secret.NewID(), UserID: u.ID, AMR: s.AMR, Return: consoleHome, Expires: h.now().Add(pendingTTL).Unix()}
	if err := h.sealCookie(w, signinCookie, pendingPurpose, p, pendingTTL); err != nil {
		h.fail(w, r, "console step-up", err)
		return
	}
	http.Redirect(w, r, "/mfa", http.StatusSeeOther)
}

// consoleError answers an error of admin.Service with a page: what the person can act on
// is said (in their language), anything else is ours and goes to the log.
func (h *Handler) consoleError(w http.ResponseWriter, r *http.Request, st *staff, what string, err error) {
	var ve *admin.ValidationError
	switch {
	case errors.Is(err, admin.ErrForbidden):
		h.ErrorPage(w, r, http.StatusForbidden, i18n.N("Not allowed"), i18n.N("Your role does not allow this."))
	case errors.Is(err, admin.ErrNotFound):
		h.ErrorPage(w, r, http.StatusNotFound, i18n.N("Not found"), i18n.N("It does not exist, or it was deleted."))
	case errors.Is(err, admin.ErrPreconditionFailed), errors.Is(err, admin.ErrKeyReused):
		// ErrKeyReused: a form sent again more than a day after its first sending (its key's
		// window): nothing is done, as for a page gone stale.
		h.ErrorPage(w, r, http.StatusConflict, i18n.N("Changed meanwhile"),
			i18n.N("Someone changed this since you opened the page. Nothing was done: reload the page, check it and try again."))
	case errors.Is(err, admin.ErrWrongState):
		h.ErrorPage(w, r, http.StatusConflict, i18n.N("Not possible now"), i18n.N("This is not possible in the current state of the account or client."))
	case errors.As(err, &ve):
		c := h.commonFor(w, r, i18n.N("Check the form"), st.u)
		p := consoleInvalid{consolePage: h.consolePage(c, st, ""), Back: consoleBack(r)}
		for _, pr := range ve.Problems {
			field := pr.Field
			if label, ok := consoleFieldText[field]; ok {
				field = c.T(label)
			}
			p.Problems = append(p.Problems, consoleInvalidField{Field: field, Value: pr.Value, Required: pr.Reason == "is required"})
		}
		h.render(w, r, http.StatusUnprocessableEntity, "console_invalid", p)
	default:
		h.fail(w, r, what, err)
	}
}

// consoleFieldText names the fields the service reports problems with, as the forms label them.
var consoleFieldText = map[string]string{
	"reason":                    i18n.N("Reason"),
	"name":                      i18n.N("Name"),
	"type":                      i18n.N("Type"),
	"status":                    i18n.N("Status"),
	"redirect_uris":             i18n.N("Redirect URIs"),
	"post_logout_redirect_uris": i18n.N("Addresses to return to after sign-out"),
	"since":                     i18n.N("From"),
	"until":                     i18n.N("Until"),
	"kind":                      i18n.N("Which second factors"),
}

type consoleInvalidField struct {
	Field, Value string
	Required     bool
}

type consoleInvalid struct {
	consolePage
	Problems []consoleInvalidField
	Back     string
}

// consoleBack is the console page a form was posted from.
func consoleBack(r *http.Request) string {
	p := r.URL.Path
	for _, suffix := range []string{"/rotate", "/unlock", "/lock", "/resend-activation", "/send-reset", "/remove-factors", "/sign-out", "/delete"} {
		p = strings.TrimSuffix(p, suffix)
	}
	if !strings.HasPrefix(p, consoleHome) {
		return consoleHome
	}
	return p
}

// actorNames shows who did something: a person by their email address (the audit log names
// them by id, which stays after the address changes), a client or the CLI by its id. A
// person deleted since keeps their id; a person who could not be read is a failure of ours
// (err), which the page answers instead of showing ids where addresses belong.
type actorNames struct {
	h     *Handler
	r     *http.Request
	known map[string]string
	err   error
}

func (h *Handler) actorNames(r *http.Request) *actorNames {
	return &actorNames{h: h, r: r, known: map[string]string{}}
}

func (n *actorNames) name(actor string) string {
	id, ok := strings.CutPrefix(actor, "user:")
	if !ok {
		return actor
	}
	if v, ok := n.known[actor]; ok {
		return v
	}
	v := actor
	u, err := n.h.cfg.Store.GetUser(n.r.Context(), id)
	switch {
	case err == nil:
		v = u.Email
	case !errors.Is(err, storage.ErrNotFound):
		if n.err == nil {
			n.err = err
		}
		return v // not remembered: the page is not shown
	}
	n.known[actor] = v
	return v
}

// consoleTime formats a time for the viewer, in their zone and language; "" for none.
func (h *Handler) consoleTime(st *staff, t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return h.formatTime(*t, st.u, st.lang)
}
