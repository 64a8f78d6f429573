package ui

import (
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/redirecturi"
)

func (h *Handler) mountLogout(r *mux.Router) {
	r.HandleFunc("/logout", h.logoutGet).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/logout", h.logoutPost).Methods(http.MethodPost)
}

type logoutPage struct {
	common
	Done          bool
	Email         string
	ClientID      string
	PostLogoutURI string
	State         string
}

// logoutGet asks before signing out: a GET must not end a session, or any site could sign
// people out with an image tag.
func (h *Handler) logoutGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := logoutPage{common: h.common(w, r, i18n.N("Sign out")), Done: q.Get("done") != "",
		ClientID: q.Get("client_id"), PostLogoutURI: q.Get("post_logout_redirect_uri"), State: q.Get("state")}
	if _, u := h.currentSession(r); u != nil {
		p.Email = u.Email
	}
	h.render(w, r, http.StatusOK, "logout", p)
}

func (h *Handler) logoutPost(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	h.endSession(w, r)
	if target := h.postLogoutTarget(r); target != "" {
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/logout?done=1", http.StatusSeeOther)
}

// postLogoutTarget returns the post-logout redirect when it is registered for the client,
// byte for byte; anything else would be an open redirect.
func (h *Handler) postLogoutTarget(r *http.Request) string {
	clientID, uri := r.PostFormValue("client_id"), r.PostFormValue("post_logout_redirect_uri")
	if clientID == "" || uri == "" {
		return ""
	}
	c, err := h.cfg.Store.GetClient(r.Context(), clientID)
	if err != nil || !redirecturi.Allowed(c.PostLogoutRedirectURIs, uri, false) {
		return ""
	}
	return withState(uri, r.PostFormValue("state"))
}

// withState appends state to a registered URI, keeping its own query.
func withState(uri, state string) string {
	if state == "" {
		return uri
	}
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("state", state)
	u.RawQuery = q.Encode()
	return u.String()
}
