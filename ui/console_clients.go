package ui

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

type consoleClientRow struct{ ID, Name, Type, Created string }

type consoleClientsPage struct {
	consolePage
	Clients []consoleClientRow
	Types   []consoleOption
	Key     string // the create form's Idempotency-Key (see consoleUserPage.Key)
}

// consoleClientTypeText names client types.
var consoleClientTypeText = map[string]string{
	storage.ClientConfidential: i18n.N("Confidential (server-side application)"),
	storage.ClientPublic:       i18n.N("Public (browser application)"),
	storage.ClientNative:       i18n.N("Native (mobile or desktop app)"),
}

func (h *Handler) consoleClients(w http.ResponseWriter, r *http.Request) {
	st, ok := h.who(w, r)
	if !ok {
		return
	}
	cs, err := h.cfg.Admin.ListClients(r.Context(), st.actor)
	if err != nil {
		h.consoleError(w, r, st, "list clients", err)
		return
	}
	c := h.commonFor(w, r, i18n.N("Clients"), st.u)
	p := consoleClientsPage{consolePage: h.consolePage(c, st, "clients"), Key: secret.RandomToken(16)}
	for _, x := range cs {
		p.Clients = append(p.Clients, consoleClientRow{ID: x.ClientID, Name: x.Name, Type: c.T(consoleTextOr(consoleClientTypeText, x.Type)),
			Created: h.consoleTime(st, &x.CreatedAt)})
	}
	for _, t := range []string{storage.ClientConfidential, storage.ClientPublic, storage.ClientNative} {
		p.Types = append(p.Types, consoleOption{t, c.T(consoleClientTypeText[t])})
	}
	h.render(w, r, http.StatusOK, "console_clients", p)
}

// consoleLines splits a textarea into its non-empty consoleLines.
func consoleLines(s string) []string {
	out := []string{}
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

type consoleSecretPage struct {
	consolePage
	ClientID, Name, Secret string
}

// showSecret renders a client secret, once: it is not stored in a readable form, and the page
// is not cached (render sends no-store).
func (h *Handler) showSecret(w http.ResponseWriter, r *http.Request, st *staff, id, name, sec string) {
	c := h.commonFor(w, r, i18n.N("Client secret"), st.u)
	w.Header().Set("Pragma", "no-cache")
	h.render(w, r, http.StatusOK, "console_secret", consoleSecretPage{consolePage: h.consolePage(c, st, "clients"),
		ClientID: id, Name: name, Secret: sec})
}

func (h *Handler) consoleClientCreate(w http.ResponseWriter, r *http.Request) {
	st, ok := h.whoPost(w, r)
	if !ok {
		return
	}
	spec := admin.ClientSpec{Name: strings.TrimSpace(r.PostFormValue("name")), Type: r.PostFormValue("type"),
		RedirectURIs: consoleLines(r.PostFormValue("redirect_uris")), PostLogoutRedirectURIs: consoleLines(r.PostFormValue("post_logout_redirect_uris")),
		FirstParty: r.PostFormValue("first_party") != "", RequireMFA: r.PostFormValue("require_mfa") != ""}
	// Sent again (a reload after a lost answer), the form's key answers with the client its
	// first sending created and a new secret, not a second client.
	cl, sec, err := h.cfg.Admin.CreateClientOnce(r.Context(), st.actor, spec, r.PostFormValue("key"))
	if err != nil {
		h.consoleError(w, r, st, "create client", err)
		return
	}
	if sec == "" {
		http.Redirect(w, r, "/admin/clients/"+url.PathEscape(cl.ClientID)+"?done=created", http.StatusSeeOther)
		return
	}
	h.showSecret(w, r, st, cl.ClientID, cl.Name, sec)
}

type consoleClientPage struct {
	consolePage
	Client        *admin.Client
	Type          string
	Created       string
	Updated       string
	RedirectURIs  string // one per line, for the edit form
	PostLogout    string
	Confidential  bool
	RotateAllowed bool
	Key           string // the edit form's Idempotency-Key (see consoleUserPage.Key)
}

func (h *Handler) consoleClient(w http.ResponseWriter, r *http.Request) {
	st, ok := h.who(w, r)
	if !ok {
		return
	}
	cl, err := h.cfg.Admin.GetClient(r.Context(), st.actor, mux.Vars(r)["id"])
	if err != nil {
		h.consoleError(w, r, st, "get client", err)
		return
	}
	c := h.commonFor(w, r, i18n.N("Client"), st.u)
	p := consoleClientPage{consolePage: h.consolePage(c, st, "clients"), Client: cl, Type: c.T(consoleTextOr(consoleClientTypeText, cl.Type)),
		Created: h.consoleTime(st, &cl.CreatedAt), Updated: h.consoleTime(st, &cl.UpdatedAt),
		RedirectURIs: strings.Join(cl.RedirectURIs, "\n"), PostLogout: strings.Join(cl.PostLogoutRedirectURIs, "\n"),
		Confidential: cl.Type == storage.ClientConfidential, Key: secret.RandomToken(16)}
	switch r.URL.Query().Get("done") {
	case "created":
		p.Flash = c.T("The client was created.")
	case "updated":
		p.Flash = c.T("The client was saved.")
	}
	h.render(w, r, http.StatusOK, "console_client", p)
}

// consoleClientUpdate saves the name and the redirect URIs, if the client is still the one
// the form was rendered from (its ETag).
func (h *Handler) consoleClientUpdate(w http.ResponseWriter, r *http.Request) {
	st, ok := h.whoPost(w, r)
	if !ok {
		return
	}
	id := mux.Vars(r)["id"]
	name := strings.TrimSpace(r.PostFormValue("name"))
	redirects, postLogout := consoleLines(r.PostFormValue("redirect_uris")), consoleLines(r.PostFormValue("post_logout_redirect_uris"))
	requireMFA := r.PostFormValue("require_mfa") != ""
	p := admin.ClientPatch{Name: &name, RedirectURIs: &redirects, PostLogoutRedirectURIs: &postLogout, RequireMFA: &requireMFA}
	etag := r.PostFormValue("etag")
	if etag == "" {
		// The console always sends the tag it rendered; without one the service must still
		// refuse (it checks the actor first), never apply the form unconditionally.
		etag = `"none"`
	}
	if _, err := h.cfg.Admin.UpdateClientOnce(r.Context(), st.actor, id, etag, p, r.PostFormValue("key")); err != nil {
		h.consoleError(w, r, st, "update client", err)
		return
	}
	http.Redirect(w, r, "/admin/clients/"+url.PathEscape(id)+"?done=updated", http.StatusSeeOther)
}

func (h *Handler) consoleClientRotate(w http.ResponseWriter, r *http.Request) {
	st, ok := h.whoPost(w, r)
	if !ok {
		return
	}
	id := mux.Vars(r)["id"]
	// The client's name, for the page, is read before the rotation: read after it, a failed
	// read was swallowed (the secret shown under no name), and a failure now changes nothing.
	cl, err := h.cfg.Admin.GetClient(r.Context(), st.actor, id)
	if err != nil {
		h.consoleError(w, r, st, "rotate secret", err)
		return
	}
	sec, err := h.cfg.Admin.RotateSecret(r.Context(), st.actor, id)
	if err != nil {
		h.consoleError(w, r, st, "rotate secret", err)
		return
	}
	h.showSecret(w, r, st, id, cl.Name, sec)
}
