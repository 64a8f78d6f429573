package ui

import (
	"net/http"
	"slices"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/storage"
)

func (h *Handler) mountConsent(r *mux.Router) {
	r.HandleFunc("/consent", h.consentGet).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/consent", h.consentPost).Methods(http.MethodPost)
}

type consentPage struct {
	common
	AuthRequestID string
	ClientName    string
	Email         string
	Scopes        []string // what the application may do, already translated
}

// scopeText says what each standard scope lets an application do, as the end of the
// sentence "… wants to use your account … to:".
var scopeText = map[string]string{
	"openid":         i18n.N("Sign you in"),
	"profile":        i18n.N("See your name, language and time zone"),
	"email":          i18n.N("See your email address"),
	"address":        i18n.N("See your country and region"),
	"offline_access": i18n.N("Stay signed in when you are not using it"),
}

// describeScopes translates what the requested scopes allow into the page's language. A
// scope without a description is named as it is, inside a translated sentence.
func describeScopes(c common, scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if t, ok := scopeText[s]; ok {
			out = append(out, c.T(t))
		} else {
			out = append(out, c.T("Access “%s”", s))
		}
	}
	return out
}

// consentFlow loads the flow and the signed-in user; without a session it goes back to login.
func (h *Handler) consentFlow(w http.ResponseWriter, r *http.Request, id string) (*authFlow, *storage.Session, *storage.User, bool) {
	f, ok := h.loadFlow(w, r, id)
	if !ok {
		return nil, nil, nil, false
	}
	s, u := h.currentSession(r)
	if s == nil {
		http.Redirect(w, r, "/login?authRequestID="+f.ar.ID, http.StatusSeeOther)
		return nil, nil, nil, false
	}
	return f, s, u, true
}

func (h *Handler) consentGet(w http.ResponseWriter, r *http.Request) {
	f, _, u, ok := h.consentFlow(w, r, r.URL.Query().Get("authRequestID"))
	if !ok {
		return
	}
	c := h.common(w, r, i18n.N("Allow access"))
	h.render(w, r, http.StatusOK, "consent", consentPage{
		common: c, AuthRequestID: f.ar.ID,
		ClientName: f.client.Name, Email: u.Email, Scopes: describeScopes(c, f.ar.Scopes),
	})
}

func (h *Handler) consentPost(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	f, s, u, ok := h.consentFlow(w, r, r.PostFormValue("authRequestID"))
	if !ok {
		return
	}
	if r.PostFormValue("decision") != "allow" {
		h.redirectError(w, r, f.ar, "access_denied", "the user denied the request")
		return
	}
	scopes := slices.Clone(f.ar.Scopes)
	if old, err := h.cfg.Store.GetConsent(r.Context(), u.ID, f.client.ID); err == nil {
		for _, sc := range old.Scopes {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	if err := h.cfg.Store.SaveConsent(r.Context(), &storage.Consent{UserID: u.ID, ClientID: f.client.ID, Scopes: scopes, GrantedAt: h.now()}); err != nil {
		h.fail(w, r, "save consent", err)
		return
	}
	h.complete(w, r, f, s)
}
