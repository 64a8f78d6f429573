package op

// Pushed authorization requests (RFC 9126).
//
// A client posts its authorization request to /par, authenticated as at the token endpoint,
// and gets back a request_uri to send the browser to /authorize with (client_id and
// request_uri only). The request never travels through the browser, so it cannot be read or
// altered there, and a confidential client's request is known to come from it. The
// request_uri is a random secret kept hashed, valid for parRequestLifetime and used once: it is
// taken (deleted) in the transaction that stores the auth request made of it, so a replayed
// or leaked one is refused, and a failure of ours before that leaves it for a reload. Once
// used, it is still honoured for a reload in the browser that used it, for a short while
// (reloadPushed, RFC 9126 §4): that browser goes on with the sign-in it started.
// A client registered with require_par may only start sign-ins this way.

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/myaccount/myaccount/internal/redirecturi"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

const (
	// parURIPrefix is the request_uri's URN prefix (RFC 9126 §2.2).
	parURIPrefix = "urn:ietf:params:oauth:request_uri:"
	// parRequestLifetime: long enough for the client to redirect the browser, short enough
	// that a leaked URI is soon useless (RFC 9126 suggests 5 to 600 seconds).
	parRequestLifetime = 60 * time.Second
	// maxPushedParams bounds what one client can park in the table per request.
	maxPushedParams = 16 << 10
	// parReloadWindow is how long after its first load a pushed request's /authorize URL,
	// reloaded in the same browser, continues the sign-in it started (see reloadPushed).
	parReloadWindow = 10 * time.Minute
)

// clientAuthParams are the client's credentials in a form post: not part of the
// authorization request, never stored with it.
var clientAuthParams = []string{"client_secret", "client_assertion", "client_assertion_type"}

// pushAuthorization answers POST /par.
func (p *Provider) pushAuthorization(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	fail := func(status int, err *oidc.Error) { httphelper.MarshalJSONWithStatus(w, err, status) }
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(http.StatusMethodNotAllowed, oidc.ErrInvalidRequest().WithDescription("use POST"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxPushedParams)
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("cannot parse the form"))
		return
	}
	if len(r.URL.RawQuery) > 0 {
		// RFC 9126 §2.1: the request is the POST body; query parameters would be ignored, and
		// a client that put them there would not get what it meant.
		fail(http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("send the parameters in the body, not the URL"))
		return
	}
	if k := repeated(r.PostForm); k != "" {
		fail(http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("a parameter is repeated: %s", k))
		return
	}
	if !p.preClientAssertion(w, r, requestInfoFrom(r.Context())) { // private_key_jwt
		return
	}
	cl, oerr := p.authenticateClient(r)
	if oerr != nil {
		p.clientError(w, r, oerr)
		return
	}
	c := cl.c
	q := url.Values{}
	for k, v := range r.PostForm {
		q[k] = v
	}
	for _, k := range clientAuthParams {
		q.Del(k)
	}
	q.Set("client_id", c.ID)
	redirect := q.Get("redirect_uri")
	if redirect == "" || !redirecturi.Allowed(c.RedirectURIs, redirect, c.Type == storage.ClientNative) {
		fail(http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("redirect_uri is missing or not registered for this client"))
		return
	}
	if err := authorizeParamsError(c, q); err != nil {
		fail(http.StatusBadRequest, err)
		return
	}
	token := secret.RandomToken(32)
	now := p.cfg.Now().UTC()
	err := p.cfg.Store.PutPushedRequest(r.Context(), &storage.PushedRequest{
		Hash: secret.HashToken(token), ClientID: c.ID, Params: q.Encode(),
		CreatedAt: now, ExpiresAt: now.Add(parRequestLifetime),
	})
	if err != nil {
		p.cfg.Logger.ErrorContext(r.Context(), "par: store the request", "err", err, "client_id", c.ID)
		fail(http.StatusInternalServerError, oidc.ErrServerError())
		return
	}
	httphelper.MarshalJSONWithStatus(w, struct {
		RequestURI string `json:"request_uri"`
		ExpiresIn  int    `json:"expires_in"`
	}{parURIPrefix + token, int(parRequestLifetime / time.Second)}, http.StatusCreated)
}

// takePushed replaces an /authorize request that names a request_uri by the pushed request
// it stands for. Parameters in the URL other than client_id and request_uri are ignored (RFC
// 9126 §4): only the pushed ones were authenticated. Without a usable pushed request, the
// person sees an error page (nothing is known good enough to redirect to).
//
// The request is only read here, and taken by CreateAuthRequest with the auth request it
// becomes.
// Taken here, a failure of ours on the way (storing the auth request) left the browser a
// request_uri already used: its reload said "Sign-in expired".
func (p *Provider) takePushed(w http.ResponseWriter, r *http.Request, ri *requestInfo) bool {
	expired := func() bool {
		p.cfg.ErrorPage(w, r, http.StatusBadRequest, "Sign-in expired",
			"This sign-in request is unknown, expired or was already used. Please return to the application and start again.")
		return false
	}
	uri, clientID := r.Form.Get("request_uri"), r.Form.Get("client_id")
	token, ok := strings.CutPrefix(uri, parURIPrefix)
	if len(r.Form["request_uri"]) != 1 || len(r.Form["client_id"]) != 1 || clientID == "" || !ok || token == "" {
		p.cfg.Logger.WarnContext(r.Context(), "authorize: request_uri not issued here or without client_id")
		return expired()
	}
	hash := secret.HashToken(token)
	pr, err := p.cfg.Store.GetPushedRequest(r.Context(), hash, clientID, p.cfg.Now().UTC())
	if errors.Is(err, storage.ErrNotFound) && p.reloadPushed(w, r, hash, clientID) {
		return false // answered: the sign-in this browser started with it goes on
	}
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrExpired) {
			// Recorded by the store guard: the fault mapping answers 503 for this page.
			p.cfg.Logger.ErrorContext(r.Context(), "authorize: take pushed request", "err", err)
		} else {
			p.cfg.Logger.WarnContext(r.Context(), "authorize: request_uri unknown, used or expired", "client_id", clientID)
		}
		return expired()
	}
	params, err := url.ParseQuery(pr.Params)
	if err != nil {
		return expired()
	}
	r.Form, r.PostForm = params, url.Values{}
	r.URL.RawQuery = pr.Params
	ri.pushed = true
	ri.pushedHash, ri.pushedClient = hash, clientID
	return true
}

// pushedAuthRequestID is the id of the auth request that the pushed request of hash
// becomes: a reload finds it again by the request_uri (reloadPushed), and then checks that it
// is bound to the reloading browser. The hash is of a secret, so the id, shown in the sign-in
// page's URL, tells nothing of the request_uri.
func pushedAuthRequestID(hash string) string {
	return secret.DerivedID("pushed auth request\x00" + hash)
}

// reloadPushed answers the load of a request_uri already used (RFC 9126 §4: "MAY allow for
// duplicate requests due to a user reloading/refreshing their user agent"): when it was made
// into an auth request bound to this browser less than parReloadWindow ago (the binding
// follows the browser through its sign-in, RebindAuthRequests), the browser goes on to
// that request's sign-in page, which continues it, or says it is complete once it finished
// (its code went with the first answer; no second one is issued). It reports whether it
// answered; any other browser, or a later reload, is refused as a used request_uri. A
// store failure is not answered here: the caller's read failed the same way or not at all.
func (p *Provider) reloadPushed(w http.ResponseWriter, r *http.Request, hash, clientID string) bool {
	bh := p.browserHash(r)
	if bh == "" {
		return false
	}
	ar, err := p.cfg.Store.GetAuthRequest(r.Context(), pushedAuthRequestID(hash))
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrExpired) {
			p.cfg.Logger.ErrorContext(r.Context(), "authorize: reloaded request_uri's auth request", "err", err)
		}
		return false
	}
	if ar.ClientID != clientID || !secret.Equal(ar.BrowserHash, bh) || !p.cfg.Now().Before(ar.CreatedAt.Add(parReloadWindow)) {
		return false
	}
	p.cfg.Logger.InfoContext(r.Context(), "authorize: request_uri reloaded in its browser", "client_id", clientID)
	http.Redirect(w, r, p.storage.loginURL(ar.ID), http.StatusFound)
	return true
}
