package ui

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/i18n"
)

// consoleDatetimeLocal is the value format of <input type="datetime-local">.
const consoleDatetimeLocal = "2006-01-02T15:04"

type consoleAuditPage struct {
	consolePage
	User, Client, Actor, Target, Type, Since, Until string
	Events                                          []consoleEventRow
	Next, First                                     string
	Zone                                            string
}

// zone is the viewer's time zone: the time-range filter is read in it, as it is shown.
func (st *staff) zone() *time.Location {
	if st.u.ZoneInfo != "" {
		if loc, err := time.LoadLocation(st.u.ZoneInfo); err == nil {
			return loc
		}
	}
	return time.UTC
}

func (h *Handler) consoleAudit(w http.ResponseWriter, r *http.Request) {
	st, ok := h.who(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	get := func(k string) string { return strings.TrimSpace(q.Get(k)) }
	f := admin.AuditFilter{UserID: get("user"), ClientID: get("client"), Actor: get("actor"), Target: get("target"), Type: get("type")}
	var bad []admin.Problem
	for _, t := range []struct {
		field string
		dst   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := get(t.field); v != "" {
			tm, err := time.ParseInLocation(consoleDatetimeLocal, v, st.zone())
			if err != nil {
				bad = append(bad, admin.Problem{Field: t.field, Value: v, Reason: "is not a date and time"})
				continue
			}
			*t.dst = tm
		}
	}
	if len(bad) > 0 {
		h.consoleError(w, r, st, "audit filter", &admin.ValidationError{Problems: bad})
		return
	}
	page, err := h.cfg.Admin.QueryAudit(r.Context(), st.actor, f, q.Get("cursor"), consolePageSize)
	if err != nil {
		h.consoleError(w, r, st, "query audit", err)
		return
	}
	c := h.commonFor(w, r, i18n.N("Audit log"), st.u)
	p := consoleAuditPage{consolePage: h.consolePage(c, st, "audit"), User: f.UserID, Client: f.ClientID, Actor: f.Actor,
		Target: f.Target, Type: f.Type, Since: get("since"), Until: get("until"), Zone: st.zone().String()}
	names := h.actorNames(r)
	for _, e := range page.Events {
		p.Events = append(p.Events, h.consoleEventRow(c, st, names, e))
	}
	if names.err != nil {
		h.fail(w, r, "console actor names", names.err)
		return
	}
	keep := url.Values{}
	for _, k := range []string{"user", "client", "actor", "target", "type", "since", "until"} {
		if v := get(k); v != "" {
			keep.Set(k, v)
		}
	}
	if page.Next != "" {
		n := url.Values{"cursor": {page.Next}}
		for k, v := range keep {
			n[k] = v
		}
		p.Next = "/admin/audit?" + n.Encode()
	}
	if q.Get("cursor") != "" {
		p.First = "/admin/audit?" + keep.Encode()
	}
	h.render(w, r, http.StatusOK, "console_audit", p)
}

type consoleKeyRow struct{ KID, Alg, State, Created, Activated, Retired, DeleteAfter string }

type consoleKeysPage struct {
	consolePage
	Keys []consoleKeyRow
}

// consoleKeyStateText names signing-key states.
var consoleKeyStateText = map[string]string{
	"active":  i18n.N("Signing"),
	"next":    i18n.N("Published, not yet signing"),
	"retired": i18n.N("Retired, still published"),
}

func (h *Handler) consoleKeys(w http.ResponseWriter, r *http.Request) {
	st, ok := h.who(w, r)
	if !ok {
		return
	}
	if h.cfg.AdminKeys == nil {
		h.ErrorPage(w, r, http.StatusNotFound, i18n.N("Not found"), i18n.N("There is no page at this address."))
		return
	}
	ks, err := h.cfg.AdminKeys.List(r.Context(), st.actor)
	if err != nil {
		h.consoleError(w, r, st, "list keys", err)
		return
	}
	c := h.commonFor(w, r, i18n.N("Signing keys"), st.u)
	p := consoleKeysPage{consolePage: h.consolePage(c, st, "keys")}
	if r.URL.Query().Get("done") == "rotated" {
		p.Flash = c.T("New signing keys are in use. The previous ones stay published until the tokens they signed expire.")
	}
	for _, k := range ks {
		p.Keys = append(p.Keys, consoleKeyRow{KID: k.KID, Alg: k.Alg, State: c.T(consoleTextOr(consoleKeyStateText, k.State)),
			Created: h.consoleTime(st, &k.CreatedAt), Activated: h.consoleTime(st, k.ActivatedAt),
			Retired: h.consoleTime(st, k.RetiredAt), DeleteAfter: h.consoleTime(st, k.DeleteAfter)})
	}
	h.render(w, r, http.StatusOK, "console_keys", p)
}

func (h *Handler) consoleKeysRotate(w http.ResponseWriter, r *http.Request) {
	st, ok := h.whoPost(w, r)
	if !ok {
		return
	}
	if h.cfg.AdminKeys == nil {
		h.ErrorPage(w, r, http.StatusNotFound, i18n.N("Not found"), i18n.N("There is no page at this address."))
		return
	}
	if _, err := h.cfg.AdminKeys.Rotate(r.Context(), st.actor, strings.TrimSpace(r.PostFormValue("reason"))); err != nil {
		h.consoleError(w, r, st, "rotate keys", err)
		return
	}
	http.Redirect(w, r, "/admin/keys?done=rotated", http.StatusSeeOther)
}
