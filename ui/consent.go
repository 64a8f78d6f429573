package ui

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/clientmeta"
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
	// Who is asking, from the client's registration; each "" when not set (or not https).
	// (Named Client… so they do not shadow common.LogoURL, the operator's logo.)
	ClientLogo   string
	ClientHome   string
	ClientHost   string // the home page's domain, shown as text
	ClientPolicy string
	ClientTerms  string
}

// clientIdentity fills in what the page shows about the client. An address is used only
// when clientmeta accepts it (https, ASCII host, no user name), whatever the row holds.
// The logo is loaded by the browser from the client's own server: rather than proxying it
// (a fetch from our side to any address an operator typed) or dropping the strict CSP,
// this one response's img-src is widened by exactly the logo's origin. The page sends no
// Referer, so that server learns only that someone is looking at a consent page for it.
func clientIdentity(w http.ResponseWriter, p *consentPage, c *storage.Client) {
	if origin := clientmeta.Origin(c.LogoURI); origin != "" && allowImagesFrom(w.Header(), origin) {
		p.ClientLogo = c.LogoURI
	}
	if host := clientmeta.Host(c.ClientURI); host != "" {
		p.ClientHome, p.ClientHost = c.ClientURI, host
	}
	if clientmeta.Check(c.PolicyURI) == nil {
		p.ClientPolicy = c.PolicyURI
	}
	if clientmeta.Check(c.TosURI) == nil {
		p.ClientTerms = c.TosURI
	}
}

// allowImagesFrom adds origin to the img-src directive of the response's
// Content-Security-Policy. Without such a directive to extend it changes nothing and
// reports false: the logo is then not shown rather than loosening an unknown policy.
func allowImagesFrom(h http.Header, origin string) bool {
	csp := h.Get("Content-Security-Policy")
	dirs := strings.Split(csp, ";")
	for i, d := range dirs {
		f := strings.Fields(d)
		if len(f) > 0 && f[0] == "img-src" {
			if slices.Contains(f[1:], "'none'") {
				return false
			}
			if slices.Contains(f[1:], origin) {
				return true // a page may build its common part more than once
			}
			dirs[i] = strings.Join(append(f, origin), " ")
			for j := range dirs {
				dirs[j] = strings.TrimSpace(dirs[j])
			}
			h.Set("Content-Security-Policy", strings.Join(dirs, "; "))
			return true
		}
	}
	return false
}

// scopeText says what each standard scope lets an application do, as the end of the
// sentence "… wants to use your account … to:".
var scopeText = map[string]string{
	"openid":         i18n.N("Sign you in"),
	"profile":        i18n.N("See your name, language and time zone"),
	"email":          i18n.N("See your email address"),
	"address":        i18n.N("See your country and region"),
	"phone":          i18n.N("See your verified phone number"),
	"offline_access": i18n.N("Stay signed in when you are not using it"),
	"licences":       i18n.N("See your licences for this product and use one on this device"),
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

// consentFlow loads the flow and the signed-in user. Without a session, or with one that
// cannot answer the request as it stands (see sessionAnswers), it goes back to the sign-in
// page, which asks for what is due: consent is asked of a sign-in that is otherwise done.
func (h *Handler) consentFlow(w http.ResponseWriter, r *http.Request, id string) (*authFlow, *storage.Session, *storage.User, bool) {
	f, ok := h.loadFlow(w, r, id)
	if !ok {
		return nil, nil, nil, false
	}
	s, u, ok := h.optionalSession(w, r)
	if !ok {
		return nil, nil, nil, false
	}
	if s == nil || !h.sessionAnswers(f, s, u) {
		http.Redirect(w, r, "/login?authRequestID="+url.QueryEscape(f.ar.ID), http.StatusSeeOther)
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
	p := consentPage{
		common: c, AuthRequestID: f.ar.ID,
		ClientName: f.client.Name, Email: u.Email, Scopes: describeScopes(c, f.ar.Scopes),
	}
	clientIdentity(w, &p, f.client)
	h.render(w, r, http.StatusOK, "consent", p)
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
	if err := h.cfg.Consent.Allow(r.Context(), u.ID, f.client.ID, f.ar.Scopes); err != nil {
		h.fail(w, r, "save consent", err)
		return
	}
	h.complete(w, r, f, s, u)
}
