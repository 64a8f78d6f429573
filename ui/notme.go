package ui

import (
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/storage"
)

// "This wasn't me" (/not-me?token=…), the link in every security notice mail. The GET only
// shows what will happen and a button: mail scanners fetch links, and a GET must change
// nothing. The POST (CSRF-checked) locks the account down (account.Service.NotMe).

func init() {
	eventText["not_me"] = i18n.N("Account secured (“This wasn't me”)")
}

func (h *Handler) mountNotMe(r *mux.Router) {
	r.HandleFunc("/not-me", h.notMeGet).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/not-me", h.notMePost).Methods(http.MethodPost)
}

type notMePage struct {
	common
	Token string
	// Dead: the link expired or was used; the page says so before anyone clicks.
	Dead bool
	// Done is set after the click, with what happened.
	Done      bool
	Restored  string // the previous address, put back
	ResetSent bool
}

func (h *Handler) notMeGet(w http.ResponseWriter, r *http.Request) {
	c := h.common(w, r, i18n.N("Secure your account"))
	tok := r.URL.Query().Get("token")
	usable, err := h.cfg.Accounts.LinkUsable(r.Context(), tok, storage.TokenNotMe)
	if h.usedLink(w, r, err) {
		return
	}
	if err != nil {
		h.fail(w, r, "check not-me link", err)
		return
	}
	// A dead link gets a page that explains, not a failed request.
	h.render(w, r, http.StatusOK, "notme", notMePage{common: c, Token: tok, Dead: !usable})
}

func (h *Handler) notMePost(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	c := h.common(w, r, i18n.N("Secure your account"))
	res, err := h.cfg.Accounts.NotMe(r.Context(), r.PostFormValue("token"), h.meta(r, c.Lang))
	switch {
	case h.usedLink(w, r, err):
		return
	case errors.Is(err, account.ErrLinkInvalid):
		h.render(w, r, http.StatusBadRequest, "notme", notMePage{common: c, Dead: true})
		return
	case err != nil:
		h.fail(w, r, "not me", err)
		return
	}
	// The session of this browser ended with all the others; drop its cookie too.
	h.endSession(w, r)
	p := notMePage{common: c, Done: true, ResetSent: res.ResetSent}
	if res.Restored {
		p.Restored = res.User.Email
	}
	h.render(w, r, http.StatusOK, "notme", p)
}
