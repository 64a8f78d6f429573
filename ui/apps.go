package ui

import (
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/clientmeta"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/storage"
)

// The Apps page: the products with access to the account (see internal/account/apps.go for
// which ones are apps and which are devices), and "Remove access" for each.

// The apps page is registered here rather than in handler.go's list, which other pages share.
func init() { pageNames = append(pageNames, "apps") }

// mountApps is called from mountDevices: the two pages belong together.
func (h *Handler) mountApps(r *mux.Router) {
	r.HandleFunc("/account/apps", h.appsGet).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/account/apps/remove", h.appRemove).Methods(http.MethodPost)
}

type appRow struct {
	ID, Name string
	Host     string   // the home page's domain, "" when none is registered
	Scopes   []string // what it may do, in words
	FirstUse string
	LastUse  string
}

type appsPage struct {
	common
	Apps  []appRow
	Flash string
}

// listApps are the person's apps for display; an error is ours (storage), never "no app".
func (h *Handler) listApps(r *http.Request, c common, u *storage.User) ([]appRow, error) {
	apps, err := h.cfg.Accounts.Apps(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	rows := make([]appRow, 0, len(apps))
	for _, a := range apps {
		rows = append(rows, appRow{ID: a.Client.ID, Name: a.Client.Name, Host: clientmeta.Host(a.Client.ClientURI),
			Scopes: describeScopes(c, a.Scopes), FirstUse: h.formatTime(a.FirstUse, u, c.Lang), LastUse: h.formatTime(a.LastUse, u, c.Lang)})
	}
	return rows, nil
}

func (h *Handler) appsGet(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	c := h.commonFor(w, r, i18n.N("Apps with access"), u)
	flash := ""
	if r.URL.Query().Get("done") == "removed" {
		flash = c.T("The app no longer has access to your account. It asks for permission again the next time you use it.")
	}
	// A failure to list is ours: "No app has access" would be a false answer.
	rows, err := h.listApps(r, c, u)
	if err != nil {
		h.fail(w, r, "list apps", err)
		return
	}
	h.render(w, r, http.StatusOK, "apps", appsPage{common: c, Apps: rows, Flash: flash})
}

// appRemove withdraws one app's access; the rule (consent, grants, audit) is the account
// service's.
func (h *Handler) appRemove(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.signedInPost(w, r)
	if !ok {
		return
	}
	err := h.cfg.Accounts.RemoveAppAccess(r.Context(), u.ID, r.PostFormValue("client_id"), h.meta(r, h.lang(r, u)))
	if errors.Is(err, account.ErrNoSuchApp) {
		// Someone else's app (or none) is as good as no app: nothing to see here.
		h.ErrorPage(w, r, http.StatusNotFound, i18n.N("Not found"), i18n.N("There is no page at this address."))
		return
	}
	if err != nil {
		h.fail(w, r, "remove app access", err)
		return
	}
	http.Redirect(w, r, "/account/apps?done=removed", http.StatusSeeOther)
}
