package ui

import (
	"net/http"

	"github.com/gorilla/mux"
)

func (h *Handler) mountAccount(r *mux.Router) {
	r.HandleFunc("/account", h.accountGet).Methods(http.MethodGet, http.MethodHead)
}

type accountPage struct {
	common
	Email      string
	SignedInAt string
}

// accountGet is the signed-in person's own page.
func (h *Handler) accountGet(w http.ResponseWriter, r *http.Request) {
	s, u := h.currentSession(r)
	if s == nil {
		http.Redirect(w, r, "/login", http.StatusFound)
		return
	}
	h.render(w, r, http.StatusOK, "account", accountPage{
		common: h.common(w, r, "Your account"), Email: u.Email,
		SignedInAt: s.AuthTime.Format("2 January 2006, 15:04 MST"),
	})
}
