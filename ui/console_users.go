package ui

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// consolePageSize is how many people or events a console page lists.
const consolePageSize = 50

// consoleStatusText names account states (translated in the template).
var consoleStatusText = map[string]string{
	storage.UserPending:  i18n.N("Not activated"),
	storage.UserActive:   i18n.N("Active"),
	storage.UserLocked:   i18n.N("Locked"),
	storage.UserDisabled: i18n.N("Disabled"),
}

// consoleFactorText names second-factor kinds.
var consoleFactorText = map[string]string{
	storage.MFATOTP:     i18n.N("Authenticator app"),
	storage.MFAWebAuthn: i18n.N("Security key or passkey"),
}

func consoleTextOr(m map[string]string, k string) string {
	if v, ok := m[k]; ok {
		return v
	}
	return k
}

type consoleUserRow struct {
	ID, Email, Status, Created, Activated string
}

type consoleUsersPage struct {
	consolePage
	Email, Status string
	Statuses      []consoleOption
	Users         []consoleUserRow
	Next, First   string
	Searched      bool
}

type consoleOption struct{ Value, Label string }

func (h *Handler) consoleUsers(w http.ResponseWriter, r *http.Request) {
	st, ok := h.who(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := admin.UserFilter{EmailPrefix: strings.TrimSpace(q.Get("email")), Status: q.Get("status")}
	page, err := h.cfg.Admin.SearchUsers(r.Context(), st.actor, f, q.Get("cursor"), consolePageSize)
	if err != nil {
		h.consoleError(w, r, st, "search users", err)
		return
	}
	c := h.commonFor(w, r, i18n.N("People"), st.u)
	p := consoleUsersPage{consolePage: h.consolePage(c, st, "users"), Email: f.EmailPrefix, Status: f.Status,
		Searched: f.EmailPrefix != "" || f.Status != ""}
	if q.Get("done") == "deleted" {
		p.Flash = c.T("The account was deleted.")
	}
	p.Statuses = []consoleOption{{"", c.T("Any")}}
	for _, s := range []string{storage.UserActive, storage.UserPending, storage.UserLocked, storage.UserDisabled} {
		p.Statuses = append(p.Statuses, consoleOption{s, c.T(consoleStatusText[s])})
	}
	for _, u := range page.Users {
		p.Users = append(p.Users, consoleUserRow{ID: u.ID, Email: u.Email, Status: c.T(consoleTextOr(consoleStatusText, u.Status)),
			Created: h.consoleTime(st, &u.CreatedAt), Activated: h.consoleTime(st, u.ActivatedAt)})
	}
	keep := url.Values{}
	if f.EmailPrefix != "" {
		keep.Set("email", f.EmailPrefix)
	}
	if f.Status != "" {
		keep.Set("status", f.Status)
	}
	if page.Next != "" {
		n := url.Values{"cursor": {page.Next}}
		for k, v := range keep {
			n[k] = v
		}
		p.Next = "/admin/users?" + n.Encode()
	}
	if q.Get("cursor") != "" {
		p.First = "/admin/users?" + keep.Encode()
	}
	h.render(w, r, http.StatusOK, "console_users", p)
}

type consoleFactorRow struct{ Kind, Name, Created, LastUsed string }
type consoleKindCount struct {
	Kind  string
	Count int
}
type consoleSessionInfo struct{ UserAgent, IP, Created, LastSeen string }
type consoleDeviceInfo struct{ Product, Name, Created, LastUsed string }
type consoleAppInfo struct{ Name, Scopes, LastUse string }
type consoleEventRow struct{ What, Type, When, Actor, ActorName, Target, TargetName, Reason, IP, Detail string }

type consoleUserPage struct {
	consolePage
	User          *admin.UserDetail
	Status        string
	Created       string
	Activated     string
	Roles         string
	LockedAt      string
	LockedBy      string
	LockedOut     string
	Factors       []consoleFactorRow
	FactorKinds   []consoleKindCount
	Sessions      []consoleSessionInfo
	Devices       []consoleDeviceInfo
	Apps          []consoleAppInfo
	Activity      []consoleEventRow
	CanUnlock     bool
	CanLock       bool
	CanResend     bool
	CanReset      bool
	CanRemove     bool
	HasFactorKind map[string]bool
	// Key is the Idempotency-Key of the page's forms: a form sent again (a reload after a
	// lost answer, a second press) is its first sending's repeat and does nothing twice.
	Key string
}

// consoleDoneText is the notice after an action on a person.
var consoleDoneText = map[string]string{
	"unlock":            i18n.N("The account was unlocked."),
	"lock":              i18n.N("The account was locked and signed out everywhere."),
	"resend-activation": i18n.N("A new activation link was sent."),
	"send-reset":        i18n.N("A password reset link was sent."),
	"remove-factors":    i18n.N("The second factors were removed."),
	"sign-out":          i18n.N("The person was signed out everywhere."),
}

func (h *Handler) consoleUser(w http.ResponseWriter, r *http.Request) {
	st, ok := h.who(w, r)
	if !ok {
		return
	}
	d, err := h.cfg.Admin.GetUser(r.Context(), st.actor, mux.Vars(r)["id"])
	if err != nil {
		h.consoleError(w, r, st, "get user", err)
		return
	}
	c := h.commonFor(w, r, i18n.N("Person"), st.u)
	p := consoleUserPage{consolePage: h.consolePage(c, st, "users"), User: d, Status: c.T(consoleTextOr(consoleStatusText, d.Status)),
		Created: h.consoleTime(st, &d.CreatedAt), Activated: h.consoleTime(st, d.ActivatedAt),
		Roles: strings.Join(d.Roles, ", "), LockedAt: h.consoleTime(st, d.Lock.At), LockedOut: h.consoleTime(st, d.Lock.LockedOutUntil),
		HasFactorKind: map[string]bool{}, Key: secret.RandomToken(16)}
	if msg, ok := consoleDoneText[r.URL.Query().Get("done")]; ok {
		p.Flash = c.T(msg)
	}
	for _, f := range d.Factors {
		p.Factors = append(p.Factors, consoleFactorRow{Kind: c.T(consoleTextOr(consoleFactorText, f.Kind)), Name: f.Name,
			Created: h.consoleTime(st, &f.CreatedAt), LastUsed: h.consoleTime(st, f.LastUsedAt)})
		p.HasFactorKind[f.Kind] = true
	}
	kinds := make([]string, 0, len(d.FactorsByKind))
	for k := range d.FactorsByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		p.FactorKinds = append(p.FactorKinds, consoleKindCount{Kind: c.T(consoleTextOr(consoleFactorText, k)), Count: d.FactorsByKind[k]})
	}
	for _, s := range d.Sessions {
		p.Sessions = append(p.Sessions, consoleSessionInfo{UserAgent: s.UserAgent, IP: s.IP, Created: h.consoleTime(st, &s.CreatedAt),
			LastSeen: h.consoleTime(st, &s.LastSeenAt)})
	}
	for _, x := range d.Devices {
		p.Devices = append(p.Devices, consoleDeviceInfo{Product: x.ClientName, Name: x.Name, Created: h.consoleTime(st, &x.CreatedAt),
			LastUsed: h.consoleTime(st, &x.LastUsedAt)})
	}
	for _, x := range d.Apps {
		p.Apps = append(p.Apps, consoleAppInfo{Name: x.Name, Scopes: strings.Join(x.Scopes, " "), LastUse: h.consoleTime(st, &x.LastUse)})
	}
	names := h.actorNames(r)
	for _, e := range d.Activity {
		p.Activity = append(p.Activity, h.consoleEventRow(c, st, names, e))
	}
	if d.Lock.By != "" {
		p.LockedBy = names.name(d.Lock.By)
	}
	if names.err != nil {
		h.fail(w, r, "console actor names", names.err)
		return
	}
	support := p.CanSupport
	p.CanUnlock = support && (d.Lock.Locked || d.Lock.LockedOutUntil != nil)
	p.CanLock = p.CanManageUsers && d.Status != storage.UserLocked && d.Status != storage.UserDisabled
	p.CanResend = support && d.Status == storage.UserPending
	p.CanReset = support && (d.Status == storage.UserActive || d.Status == storage.UserPending)
	p.CanRemove = support && (len(d.Factors) > 0 || d.RecoveryCodes > 0)
	h.render(w, r, http.StatusOK, "console_user", p)
}

// staffEventText names the audit events of admin actions (the person's own events are named
// by eventText).
var staffEventText = map[string]string{
	"admin.user.lock":                i18n.N("Locked by staff"),
	"admin.user.unlock":              i18n.N("Unlocked by staff"),
	"admin.user.resend_activation":   i18n.N("Activation link sent by staff"),
	"admin.user.send_reset":          i18n.N("Reset link sent by staff"),
	"admin.user.remove_factors":      i18n.N("Second factors removed by staff"),
	"admin.user.sign_out_everywhere": i18n.N("Signed out everywhere by staff"),
	"admin.user.create":              i18n.N("Account created by staff"),
	"admin.user.delete":              i18n.N("Account deleted by staff"),
	"admin.user.update":              i18n.N("Profile changed by staff"),
	"admin.client.create":            i18n.N("Client created"),
	"admin.client.update":            i18n.N("Client changed"),
	"admin.client.delete":            i18n.N("Client deleted"),
	"admin.client.rotate_secret":     i18n.N("Client secret rotated"),
	"admin.keys.rotate":              i18n.N("Signing keys rotated"),
	"admin.audit.export":             i18n.N("Audit log exported"),
}

func (h *Handler) consoleEventRow(c common, st *staff, names *actorNames, e admin.AuditEntry) consoleEventRow {
	what := e.Type
	if t, ok := eventText[e.Type]; ok {
		what = c.T(t)
	} else if t, ok := staffEventText[e.Type]; ok {
		what = c.T(t)
	}
	return consoleEventRow{What: what, Type: e.Type, When: h.consoleTime(st, &e.At), Actor: e.Actor, ActorName: names.name(e.Actor),
		Target: e.Target, TargetName: names.name(e.Target), Reason: e.Reason, IP: e.IP, Detail: e.Detail}
}

// consoleUserAction runs one action on a person. Every action needs a reason (the audit log
// keeps it); the ones that change the account's state send the ETag the page was rendered
// with, so a change made meanwhile is reported rather than overwritten.
func (h *Handler) consoleUserAction(w http.ResponseWriter, r *http.Request) {
	st, ok := h.whoPost(w, r)
	if !ok {
		return
	}
	id, action := mux.Vars(r)["id"], mux.Vars(r)["action"]
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	etag := r.PostFormValue("etag")
	if _, known := consoleDoneText[action]; !known && action != "delete" {
		h.ErrorPage(w, r, http.StatusNotFound, i18n.N("Not found"), i18n.N("There is no page at this address."))
		return
	}
	if reason == "" {
		h.consoleError(w, r, st, action, &admin.ValidationError{Problems: []admin.Problem{{Field: "reason", Reason: "is required"}}})
		return
	}
	ctx, svc, a, key := r.Context(), h.cfg.Admin, st.actor, r.PostFormValue("key")
	var err error
	switch action {
	case "unlock":
		_, err = svc.UnlockUserOnce(ctx, a, id, etag, reason, key)
	case "lock":
		_, err = svc.LockUserOnce(ctx, a, id, etag, reason, key)
	case "resend-activation":
		err = svc.ResendActivationOnce(ctx, a, id, reason, key)
	case "send-reset":
		err = svc.SendResetOnce(ctx, a, id, reason, key)
	case "remove-factors":
		_, err = svc.RemoveFactorsOnce(ctx, a, id, r.PostFormValue("kind"), reason, key)
	case "sign-out":
		err = svc.SignOutEverywhereOnce(ctx, a, id, reason, key)
	case "delete":
		err = svc.DeleteUserOnce(ctx, a, id, etag, reason, key)
	}
	if err != nil {
		h.consoleError(w, r, st, "user "+action, err)
		return
	}
	if action == "delete" {
		http.Redirect(w, r, "/admin/users?done=deleted", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/admin/users/"+url.PathEscape(id)+"?done="+action, http.StatusSeeOther)
}
