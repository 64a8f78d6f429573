package ui

import (
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/useragent"
	"github.com/myaccount/myaccount/storage"
)

func (h *Handler) mountDevices(r *mux.Router) {
	r.HandleFunc("/account/devices", h.devicesGet).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/account/devices/revoke", h.deviceRevoke).Methods(http.MethodPost)
	r.HandleFunc("/account/sessions/revoke", h.sessionRevoke).Methods(http.MethodPost)
	r.HandleFunc("/account/signout-others", h.signOutOthers).Methods(http.MethodPost)
	h.mountApps(r)
}

type installationRow struct {
	ID, Product, Device, IP, FirstSignIn, LastUsed string
}

type sessionRow struct {
	ID, Device, IP, LastActivity string
	Current                      bool
}

type devicesPage struct {
	common
	Installations []installationRow
	Sessions      []sessionRow
	Flash         string
}

// listInstallations lists the grants of installation clients (native apps, devices: see
// account.IsInstallation) that hold a refresh token: each is an installed product that stays
// signed in. Web apps' grants are listed on the Apps page instead. An error is ours
// (storage), never "none".
func (h *Handler) listInstallations(r *http.Request, u *storage.User) ([]installationRow, error) {
	list, err := h.cfg.Accounts.Installations(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	lang := h.lang(r, u)
	var rows []installationRow
	for _, x := range list {
		g, product := x.Grant, x.Client.Name
		device := g.DeviceName
		if device == "" {
			device = useragent.Describe(g.UserAgent)
		}
		rows = append(rows, installationRow{ID: g.ID, Product: product, Device: device, IP: g.IP,
			FirstSignIn: h.formatTime(g.CreatedAt, u, lang), LastUsed: h.formatTime(g.LastUsedAt, u, lang)})
	}
	return rows, nil
}

// listSessions lists the person's live sessions; an error is ours (storage), never "none".
func (h *Handler) listSessions(r *http.Request, u *storage.User, current *storage.Session) ([]sessionRow, error) {
	live, err := h.cfg.Sessions.List(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	lang := h.lang(r, u)
	var rows []sessionRow
	for _, s := range live {
		rows = append(rows, sessionRow{ID: s.ID, Device: useragent.Describe(s.UserAgent), IP: s.IP,
			LastActivity: h.formatTime(s.LastSeenAt, u, lang), Current: s.ID == current.ID})
	}
	return rows, nil
}

func (h *Handler) devicesGet(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	c := h.commonFor(w, r, i18n.N("Your devices"), u)
	flash := ""
	switch r.URL.Query().Get("done") {
	case "device":
		flash = c.T("The device was signed out. It has to sign in again.")
	case "others":
		flash = c.T("You were signed out everywhere else.")
	}
	// A failure to list is ours: an empty list would tell the person nothing is signed in.
	installs, err := h.listInstallations(r, u)
	if err != nil {
		h.fail(w, r, "list installations", err)
		return
	}
	sessions, err := h.listSessions(r, u, s)
	if err != nil {
		h.fail(w, r, "list sessions", err)
		return
	}
	h.render(w, r, http.StatusOK, "devices", devicesPage{common: c, Flash: flash, Installations: installs, Sessions: sessions})
}

// deviceRevoke signs one installation out: its whole token family is revoked, so the product
// notices at its next refresh or introspection.
func (h *Handler) deviceRevoke(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.signedInPost(w, r)
	if !ok {
		return
	}
	_, err := h.cfg.Accounts.SignOutInstallation(r.Context(), u.ID, r.PostFormValue("grant_id"), h.meta(r, h.lang(r, u)))
	if errors.Is(err, storage.ErrNotFound) {
		// Someone else's grant is as good as no grant: nothing to see here.
		h.ErrorPage(w, r, http.StatusNotFound, i18n.N("Not found"), i18n.N("There is no page at this address."))
		return
	} else if err != nil {
		h.fail(w, r, "revoke grant", err)
		return
	}
	http.Redirect(w, r, "/account/devices?done=device", http.StatusSeeOther)
}

func (h *Handler) sessionRevoke(w http.ResponseWriter, r *http.Request) {
	cur, u, ok := h.signedInPost(w, r)
	if !ok {
		return
	}
	id := r.PostFormValue("session_id")
	if id == cur.ID {
		if err := h.signOut(w, r); err != nil {
			h.fail(w, r, "sign out", err)
			return
		}
		http.Redirect(w, r, "/logout?done=1", http.StatusSeeOther)
		return
	}
	// Someone else's session is as good as none (the service answers not found).
	if err := h.cfg.Sessions.Revoke(r.Context(), u.ID, id); errors.Is(err, storage.ErrNotFound) {
		h.ErrorPage(w, r, http.StatusNotFound, i18n.N("Not found"), i18n.N("There is no page at this address."))
		return
	} else if err != nil {
		h.fail(w, r, "revoke session", err)
		return
	}
	http.Redirect(w, r, "/account/devices?done=device", http.StatusSeeOther)
}

// signOutOthers keeps only this browser's session: every other session ends and every
// installation's tokens are revoked.
func (h *Handler) signOutOthers(w http.ResponseWriter, r *http.Request) {
	cur, u, ok := h.signedInPost(w, r)
	if !ok {
		return
	}
	event := h.cfg.Accounts.EventIn(u.ID, "signed_out_everywhere", h.meta(r, h.lang(r, u)), "")
	if err := h.cfg.Sessions.SignOutOthers(r.Context(), u.ID, cur.ID, event); err != nil {
		h.fail(w, r, "sign out everywhere else", err)
		return
	}
	http.Redirect(w, r, "/account/devices?done=others", http.StatusSeeOther)
}
