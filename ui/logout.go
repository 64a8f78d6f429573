package ui

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/clientmeta"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/redirecturi"
	"github.com/myaccount/myaccount/storage"
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
	// CancelURL is where Cancel leads (keeping the session); ClientName is set when that
	// is the application the logout came from.
	CancelURL  string
	ClientName string
}

// logoutGet asks before signing out: a GET must not end a session, or any site could sign
// people out with an image tag.
func (h *Handler) logoutGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := logoutPage{common: h.common(w, r, i18n.N("Sign out")), Done: q.Get("done") != "",
		ClientID: q.Get("client_id"), PostLogoutURI: q.Get("post_logout_redirect_uri"), State: q.Get("state")}
	// The page says who is signed in: a failure to read the session is ours, not a page
	// that leaves it out.
	_, u, ok := h.optionalSession(w, r)
	if !ok {
		return
	}
	if u != nil {
		p.Email = u.Email
	}
	p.CancelURL = "/account"
	c, err := h.postLogoutClient(r.Context(), p.ClientID, p.PostLogoutURI)
	if err != nil {
		h.fail(w, r, "sign-out: read the application", err)
		return
	}
	if c != nil {
		if back := clientHome(c, p.PostLogoutURI); back != "" {
			p.CancelURL, p.ClientName = back, c.Name
		}
	}
	h.render(w, r, http.StatusOK, "logout", p)
}

// clientHome is where Cancel returns a person to an application that asked to sign them
// out: its registered home page, else the site of its post-logout address. Not that
// address itself: arriving there tells the application the sign-out happened.
func clientHome(c *storage.Client, postLogoutURI string) string {
	if clientmeta.Host(c.ClientURI) != "" {
		return c.ClientURI
	}
	u, err := url.Parse(postLogoutURI)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "" // a native app's private scheme: nothing to open from a browser
	}
	return u.Scheme + "://" + u.Host + "/"
}

func (h *Handler) logoutPost(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	// Where the sign-out returns to is known before anyone is signed out: a failure to read
	// the application is ours (503, nothing done), not an address it did not register.
	target, err := h.postLogoutTarget(r)
	if err != nil {
		h.fail(w, r, "sign-out: read the application", err)
		return
	}
	if err := h.signOut(w, r); err != nil {
		h.fail(w, r, "sign out", err)
		return
	}
	if target != "" {
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/logout?done=1", http.StatusSeeOther)
}

// postLogoutTarget returns the post-logout redirect when it is registered for the client,
// byte for byte; anything else would be an open redirect. An error is ours.
func (h *Handler) postLogoutTarget(r *http.Request) (string, error) {
	uri := r.PostFormValue("post_logout_redirect_uri")
	c, err := h.postLogoutClient(r.Context(), r.PostFormValue("client_id"), uri)
	if c == nil || err != nil {
		return "", err
	}
	return withState(uri, r.PostFormValue("state")), nil
}

// postLogoutClient returns the client when uri is one of its registered post-logout
// redirects, byte for byte, else nil. An error is ours: the client could not be read.
func (h *Handler) postLogoutClient(ctx context.Context, clientID, uri string) (*storage.Client, error) {
	if clientID == "" || uri == "" {
		return nil, nil
	}
	c, err := h.cfg.Store.GetClient(ctx, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !redirecturi.Allowed(c.PostLogoutRedirectURIs, uri, false) {
		return nil, nil
	}
	return c, nil
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
