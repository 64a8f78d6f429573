package op

import (
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/rs/cors"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/myaccount/myaccount/internal/errcode"
	"github.com/myaccount/myaccount/internal/fault"
	"github.com/myaccount/myaccount/internal/licence"
	"github.com/myaccount/myaccount/internal/redirecturi"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
)

// Config is what the provider is built from. cmd/myaccount fills it.
type Config struct {
	Issuer    string
	Store     storage.Store
	Keys      KeySource
	MasterKey []byte // opaque access tokens are encrypted under a key derived from it
	Lifetimes Lifetimes
	// LoginPath and LogoutPath are the UI pages (e.g. "/login", "/logout").
	LoginPath  string
	LogoutPath string
	// BrowserCookie names the cookie that binds an authorization request to a browser.
	BrowserCookie string
	// SessionCookie names the UI's SSO session cookie: end_session ends a session only for
	// the browser holding it.
	SessionCookie string
	SecureCookies bool
	// ClientIP resolves the client address (honouring only trusted proxies).
	ClientIP func(*http.Request) string
	// ErrorPage renders MyAccount's own error page; used where redirecting back to the client
	// would be unsafe (unknown client, unregistered redirect URI, foreign browser).
	ErrorPage func(w http.ResponseWriter, r *http.Request, status int, title, message string)
	// OnToken, when set, is called with the grant type of every token response issued
	// (metrics).
	OnToken func(grant string)
	Logger  *slog.Logger
	Now     func() time.Time
	// DevicePath is the UI page where a person enters a device's user code ("/device" when
	// empty); DeviceCodeLifetime (10 minutes) and DevicePollInterval (5 seconds) configure the
	// device authorization grant.
	DevicePath         string
	DeviceCodeLifetime time.Duration
	DevicePollInterval time.Duration
	// AccessTokenAlg signs JWT access tokens: "ES256" (the default when empty), "EdDSA" or
	// "RS256" (keys.Algorithms). ID tokens follow the client's registered algorithm (RS256
	// unless it chose another).
	AccessTokenAlg string
	// UILocales are the languages the sign-in pages speak (ui_locales_supported in
	// discovery), most preferred first; none means English.
	UILocales []string
	// RegistrationEndpoint, when set, is advertised in discovery as registration_endpoint
	// (dynamic client registration is served outside the provider, by internal/registration).
	RegistrationEndpoint string
	// Licences, when set, serves the licences scope (issue 14): the claim in ID tokens,
	// userinfo and introspection, and seat binding at token issuance.
	Licences Entitlements
	// Sessions ends the session an end_session request signs out, telling its clients
	// (back-channel logout); nil only revokes it.
	Sessions SessionEnder
}

// Provider is the OpenID provider: zitadel's handlers behind our policy middleware.
type Provider struct {
	cfg     Config
	zop     *zop.Provider
	storage *opStorage
	handler http.Handler
	// origins are the web origins allowed cross-origin calls (see corsAllowed).
	origins *originCache
	// discovery is the discovery document, made on first use; jwks the key set's JSON,
	// remade when the set of key ids changes.
	discoveryOnce sync.Once
	discovery     *staticDoc
	jwksMu        sync.Mutex
	jwks          *staticDoc
	jwksIDs       string
	// cors applies the library's CORS rules to the documents answered here (JWKS, discovery).
	cors *cors.Cors
	// dpopv checks DPoP proofs and makes nonces (see dpop.go).
	dpopv *dpopVerifier
	// cleanAddrs spares reading the failed-authentication counter of a clean address.
	cleanAddrs cleanAddrs
	// verified remembers access tokens whose signature verified (introspectcc.go).
	verified verifiedTokens
}

// New builds the provider. Build one per process: the library keeps some state per provider
// and its custom-endpoint options touch package globals.
func New(cfg Config) (*Provider, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = func(r *http.Request) string { return r.RemoteAddr }
	}
	if cfg.DevicePath == "" {
		cfg.DevicePath = defaultDevicePath
	}
	if cfg.DeviceCodeLifetime <= 0 {
		cfg.DeviceCodeLifetime = defaultDeviceCodeLifetime
	}
	if cfg.DevicePollInterval < time.Second {
		cfg.DevicePollInterval = defaultDevicePollInterval
	}
	if cfg.AccessTokenAlg == "" {
		cfg.AccessTokenAlg = string(jose.ES256)
	}
	if !keys.Supported(cfg.AccessTokenAlg) {
		return nil, fmt.Errorf("op: access token algorithm %q is not one of %s", cfg.AccessTokenAlg, keys.AlgorithmList())
	}
	if len(cfg.MasterKey) != 32 {
		return nil, errors.New("op: master key must be 32 bytes")
	}
	// On https every cookie carries the __Host- prefix (the UI names them the same way).
	if cfg.SecureCookies {
		cfg.BrowserCookie = hostCookieName(cfg.BrowserCookie)
		cfg.SessionCookie = hostCookieName(cfg.SessionCookie)
	}
	cryptoKey, err := hkdf.Key(sha256.New, cfg.MasterKey, nil, "myaccount opaque access tokens v1", 32)
	if err != nil {
		return nil, fmt.Errorf("op: derive token key: %w", err)
	}
	_, draft, err := ed25519.GenerateKey(nil) // crypto/rand
	if err != nil {
		return nil, fmt.Errorf("op: draft key: %w", err)
	}
	st := &opStorage{
		draftKey:   draftKey{draft},
		store:      cfg.Store,
		keys:       cfg.Keys,
		lifetimes:  cfg.Lifetimes,
		logoutPath: cfg.LogoutPath,
		loginURL: func(id string) string {
			return cfg.LoginPath + "?authRequestID=" + url.QueryEscape(id)
		},
		now:            func() time.Time { return cfg.Now().UTC() },
		log:            cfg.Logger,
		onToken:        cfg.OnToken,
		deviceLifetime: cfg.DeviceCodeLifetime,
		devicePoll:     cfg.DevicePollInterval,
		accessTokenAlg: cfg.AccessTokenAlg,
		issuer:         cfg.Issuer,
		licences:       cfg.Licences,
		sessions:       cfg.Sessions,
		clientKeys:     newClientKeys(func() time.Time { return cfg.Now().UTC() }),
	}
	zcfg := &zop.Config{
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		DefaultLogoutRedirectURI: cfg.LogoutPath + "?done=1",
		SupportedUILocales:       uiLocaleTags(cfg.UILocales),
		SupportedScopes:          []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeAddress, oidc.ScopePhone, oidc.ScopeOfflineAccess},
		SupportedClaims: []string{"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "acr", "amr",
			"c_hash", "at_hash", "sid", "azp", "email", "email_verified", "name", "locale", "zoneinfo", "address", "phone_number", "phone_number_verified", "updated_at"},
		DeviceAuthorization: deviceConfig(cfg),
		// Back-Channel Logout 1.0: every sign-out is told to clients that registered a
		// backchannel_logout_uri, with sid whenever the grant has a session.
		BackChannelLogoutSupported:        true,
		BackChannelLogoutSessionSupported: true,
		// RFC 7523 client assertions, checked by preClientAssertion (clientauth.go).
		AuthMethodPrivateKeyJWT: true,
	}
	if cfg.Licences != nil {
		// Served only when licences are (the claim, seat binding): advertise it then.
		zcfg.SupportedScopes = append(zcfg.SupportedScopes, licence.Scope)
		zcfg.SupportedClaims = append(zcfg.SupportedClaims, licence.Scope)
	}
	copy(zcfg.CryptoKey[:], cryptoKey)
	var opts []zop.Option
	if strings.HasPrefix(cfg.Issuer, "http://") {
		opts = append(opts, zop.WithAllowInsecure())
	}
	// Cross-origin calls (SPAs exchanging codes, reading JWKS) are fine without credentials;
	// with credentials they are not: no page of ours answers a credentialed cross-site read.
	origins := &originCache{store: cfg.Store, now: cfg.Now}
	corsOpts := cors.Options{
		AllowOriginRequestFunc: func(r *http.Request, origin string) bool { return corsAllowed(origins, r, origin) },
		AllowCredentials:       false,
		// DPoP (RFC 9449): browser apps send proofs and must read the nonce and challenge.
		AllowedHeaders: []string{"Accept", "Authorization", "Content-Type", dpopHeader},
		ExposedHeaders: []string{dpopNonceHeader, "WWW-Authenticate"},
		AllowedMethods: []string{http.MethodGet, http.MethodHead, http.MethodPost},
	}
	// The library's verifiers accept RS256, ES256 and PS256 unless told: told the algorithms
	// we sign with, so that our EdDSA access tokens and ID token hints verify, and PS256,
	// which we never sign, is not even parsed.
	signed := keys.AlgorithmNames()
	opts = append(opts, zop.WithCORSOptions(&corsOpts), zop.WithLogger(cfg.Logger),
		zop.WithAccessTokenKeySet(capturingKeySet{ownKeySet{st}}), zop.WithIDTokenHintKeySet(ownKeySet{st}),
		zop.WithAccessTokenVerifierOpts(zop.WithSupportedAccessTokenSigningAlgorithms(signed...)),
		zop.WithIDTokenHintVerifierOpts(zop.WithSupportedIDTokenHintSigningAlgorithms(signed...)))
	p, err := zop.NewProvider(zcfg, st, zop.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("op: new provider: %w", err)
	}
	pr := &Provider{cfg: cfg, zop: p, storage: st, origins: origins, cors: cors.New(corsOpts)}
	if pr.dpopv, err = newDPoPVerifier(cfg); err != nil {
		return nil, fmt.Errorf("op: %w", err)
	}
	pr.handler = pr.middleware(p)
	return pr, nil
}

// Handler serves discovery, JWKS and every protocol endpoint.
func (p *Provider) Handler() http.Handler { return p.handler }

// CallbackURL returns where the login UI sends the browser once an auth request is done.
func (p *Provider) CallbackURL(ctx context.Context, authRequestID string) string {
	return strings.TrimSuffix(p.cfg.Issuer, "/") + "/authorize/callback?id=" + url.QueryEscape(authRequestID)
}

// Paths lists the URL paths the provider answers, for the router.
func (p *Provider) Paths() []string {
	return []string{
		"/.well-known/openid-configuration", "/authorize", "/authorize/callback", "/oauth/token",
		"/oauth/introspect", "/userinfo", "/revoke", "/end_session", "/keys",
		"/device_authorization", "/par",
	}
}

func (p *Provider) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := &requestInfo{userAgent: r.UserAgent(), ip: p.cfg.ClientIP(r)}
		r = r.WithContext(withRequestInfo(r.Context(), ri))
		switch r.URL.Path {
		case "/authorize":
			r.Header.Del("Origin") // front channel: no CORS (see corsAllowed)
			// Every authorization response carries iss (RFC 9207), the library's own
			// errors (login_required, a bad hint) included.
			w = &issWriter{ResponseWriter: w, issuer: p.cfg.Issuer}
			if !p.preAuthorize(w, r, ri) {
				return
			}
		case "/authorize/callback":
			r.Header.Del("Origin")
			if !p.checkBrowserBinding(w, r) {
				return
			}
			w = &issWriter{ResponseWriter: w, issuer: p.cfg.Issuer}
		case "/oauth/token", "/oauth/introspect", "/userinfo", "/revoke":
			// Tokens and user data must never sit in a cache (RFC 6749 §5.1).
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Pragma", "no-cache")
			if r.URL.Path != "/userinfo" && !postOnly(w, r) {
				return
			}
			if r.URL.Path != "/userinfo" && !p.preClientAssertion(w, r, ri) {
				return
			}
			if (r.URL.Path == "/oauth/introspect" || r.URL.Path == "/revoke") && (!p.preClientAuth(w, r) || !tokenGiven(w, r)) {
				return
			}
			switch r.URL.Path {
			case "/oauth/token":
				c, ok := p.preToken(w, r)
				if !ok || (c != nil && (p.clientCredentialsToken(w, r, c) || p.refreshToken(w, r, c) || p.codeToken(w, r, c))) {
					return
				}
				// JWT access tokens are re-signed as at+jwt (RFC 9068), DPoP ones typed DPoP.
				ri.draft = true
				tw := &tokenWriter{ResponseWriter: w, p: p, r: r}
				defer tw.finish()
				w = tw
			case "/userinfo":
				if !p.preUserinfo(w, r) || !p.preUserinfoDPoP(w, r, ri) {
					return
				}
				w = &bearerWriter{ResponseWriter: w, issuer: p.cfg.Issuer, ri: ri,
					hadToken: r.Header.Get("Authorization") != "" || r.PostFormValue("access_token") != ""}
			}
			if r.URL.Path == "/oauth/introspect" {
				w = &introspectWriter{ResponseWriter: w, ri: ri}
				if p.introspectRefresh(w, r) || p.introspectStateless(w, r) {
					return
				}
			}
			// The device grant is ours: the library cannot answer slow_down or use a code once.
			if r.URL.Path == "/oauth/token" && r.Method == http.MethodPost && r.ParseForm() == nil &&
				r.PostForm.Get("grant_type") == string(oidc.GrantTypeDeviceCode) {
				p.deviceToken(w, r)
				return
			}
		case "/end_session":
			r.Header.Del("Origin") // front channel: no CORS (see corsAllowed)
			if err := r.ParseForm(); err == nil {
				ri.postLogoutURI = r.Form.Get("post_logout_redirect_uri")
				ri.state = r.Form.Get("state")
			}
			if c, err := r.Cookie(p.cfg.SessionCookie); err == nil && c.Value != "" {
				ri.sessionHash = secret.HashToken(c.Value)
			}
			if !p.preEndSession(w, r) {
				return
			}
			w = &endSessionWriter{ResponseWriter: w, r: r, p: p}
		case "/keys":
			if !documentMethod(w, r) {
				return
			}
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				w.Header().Set("Cache-Control", "public, max-age=300")
				served := false
				p.cors.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served = p.serveJWKS(w, r) })).ServeHTTP(w, r)
				if served {
					return
				}
				// The key set could not be read: the library answers, through the fault mapping.
				w.Header().Del("Access-Control-Allow-Origin")
				w.Header().Del("Vary")
			}
		case "/.well-known/openid-configuration":
			if !documentMethod(w, r) {
				return
			}
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				w.Header().Set("Cache-Control", "public, max-age=300")
			}
			p.cors.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.serveDiscovery(next, w, r) })).ServeHTTP(w, r)
			return
		case "/par":
			p.pushAuthorization(w, r)
			return
		case "/device_authorization":
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Pragma", "no-cache")
			if !postOnly(w, r) || !p.preClientAssertion(w, r, ri) || !p.preDeviceAuthorization(w, r, ri) {
				return
			}
		}
		// Last, after the DPoP proof was checked against the token as sent (its ath).
		objectClaimsRequest(r)
		next.ServeHTTP(w, r)
	})
}

// isPreflight reports whether r is a CORS preflight (Fetch standard): OPTIONS naming the
// method the script means to send. The CORS handler answers it.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
}

// postOnly answers 405 to a request of a POST-only endpoint (token, introspection,
// revocation, device authorization: RFC 6749 §3.2, RFC 7662 §2.1, RFC 7009 §2.1, RFC 8628
// §3.1) sent with another method, but a CORS preflight. The library took any method there:
// an OPTIONS or GET reached its handlers, which answered with their internal error text or,
// for a client_id it could not find, 500.
func postOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodPost || isPreflight(r) {
		return true
	}
	w.Header().Set("Allow", http.MethodPost)
	httphelper.MarshalJSONWithStatus(w, oidc.ErrInvalidRequest().WithDescription("use POST"), http.StatusMethodNotAllowed)
	return false
}

// tokenGiven answers 400 invalid_request to an introspection or revocation request, of a
// client already authenticated, that names no token: the parameter is required (RFC 7662
// §2.1, RFC 7009 §2.1). The library answered {"active":false} and 200, a revocation that
// revoked nothing.
func tokenGiven(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost || isPreflight(r) || r.ParseForm() != nil || r.PostForm.Get("token") != "" {
		return true
	}
	httphelper.MarshalJSONWithStatus(w, oidc.ErrInvalidRequest().WithDescription("token is required"), http.StatusBadRequest)
	return false
}

// documentMethod answers 405 to a request of discovery or the JWKS sent with a method other
// than GET or HEAD, but a CORS preflight. The library answered the document to any method,
// with the public Cache-Control that only its GET may carry.
func documentMethod(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead || isPreflight(r) {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	httphelper.MarshalJSONWithStatus(w, oidc.ErrInvalidRequest().WithDescription("use GET"), http.StatusMethodNotAllowed)
	return false
}

// preEndSession checks a logout request's client_id before the library sees it: the library
// answered an unknown one with a bare 500 server_error (its storage lookup failing), which
// neither tells the person anything nor is true (the request is at fault, not we). An
// unknown client is our error page, 400, like at /authorize: a redirect would need a
// registered post-logout URI, which an unknown client has none of. A store failure on the
// way is the fault mapping's 503.
func (p *Provider) preEndSession(w http.ResponseWriter, r *http.Request) bool {
	id := r.Form.Get("client_id")
	if id == "" {
		return true
	}
	if _, err := p.cfg.Store.GetClient(r.Context(), id); err != nil {
		p.unknownClient(w, r, "end_session")
		return false
	}
	return true
}

// unknownClient is the page for a request naming a client_id we do not know, at /authorize
// and at end_session alike: 400, never a redirect (there is no registered URI to send the
// person to). A store failure behind the lookup was recorded in the request's context and the
// fault mapping answers 503 instead.
func (p *Provider) unknownClient(w http.ResponseWriter, r *http.Request, endpoint string) {
	p.cfg.Logger.WarnContext(r.Context(), endpoint+": unknown client_id")
	p.cfg.ErrorPage(w, errcode.With(r, "invalid_client"), http.StatusBadRequest, "Unknown application",
		"The application that sent you here is not registered with this service.")
}

// preAuthorize applies our rules before the library sees an authorization request. Until the
// client and redirect URI are known good, errors are shown here and never redirected.
func (p *Provider) preAuthorize(w http.ResponseWriter, r *http.Request, ri *requestInfo) bool {
	if err := r.ParseForm(); err != nil {
		p.cfg.ErrorPage(w, r, http.StatusBadRequest, "Invalid request", "The sign-in request could not be read.")
		return false
	}
	if r.Form.Has("request_uri") && !p.takePushed(w, r, ri) {
		return false
	}
	q := r.Form
	// A repeated client_id or redirect_uri cannot be trusted enough to redirect to.
	if len(q["client_id"]) > 1 || len(q["redirect_uri"]) > 1 {
		p.cfg.ErrorPage(w, r, http.StatusBadRequest, "Invalid request", "The sign-in request could not be read.")
		return false
	}
	clientID, redirect := q.Get("client_id"), q.Get("redirect_uri")
	if clientID == "" {
		p.cfg.ErrorPage(w, r, http.StatusBadRequest, "Invalid request", "The sign-in request does not name an application.")
		return false
	}
	c, err := p.cfg.Store.GetClient(r.Context(), clientID)
	if err != nil {
		p.unknownClient(w, r, "authorize")
		return false
	}
	if redirect == "" || !redirecturi.Allowed(c.RedirectURIs, redirect, c.Type == storage.ClientNative) {
		p.cfg.Logger.WarnContext(r.Context(), "authorize: redirect_uri not registered", "client_id", clientID)
		// Said for the person (what happened, that they are safe, what to do); the code in
		// small print is for the developer who has to fix the registration or the request.
		p.cfg.ErrorPage(w, errcode.With(r, "invalid_redirect_uri"), http.StatusBadRequest, "Sign-in stopped",
			"The application that sent you here asked us to send you back to an address it has not registered, so we stopped and sent nothing to it. Your account is safe. Go back to the application and try again; if this keeps happening, tell the application's support team and give them the error code below.")
		return false
	}
	state := q.Get("state")
	fail := func(code, desc string) bool {
		redirectError(w, r, redirect, code, desc, state, p.cfg.Issuer)
		return false
	}
	if c.RequirePAR && !ri.pushed {
		return fail("invalid_request", "this client must push its authorization requests (RFC 9126)")
	}
	if err := authorizeParamsError(c, q); err != nil {
		return fail(string(err.ErrorType), err.Description)
	}
	ri.resources, _ = checkResources(c, q["resource"]) // checked just above
	if hint := q.Get("id_token_hint"); hint != "" {
		// Only our ID tokens name a person; the library would take any JWT we signed.
		h, ok := parseIDTokenHint(hint)
		if !ok {
			return fail("login_required", "the id_token_hint is not an ID token issued by this server")
		}
		ri.hintEmail = h.Email
	}
	ri.deviceName = deviceName(q.Get("device_name"))
	ri.deviceID = deviceIDParam(q.Get("device_id"))
	ri.browserHash = p.browserBinding(w, r)
	return true
}

// authorizeParamsError checks an authorization request's parameters for client c, whose
// redirect_uri is already known to be registered: what /authorize redirects back as an error
// and /par answers in JSON. It returns the OAuth error code and description, or "" when the
// request may go on.
func authorizeParamsError(c *storage.Client, q url.Values) *oidc.Error {
	if k := repeated(q); k != "" {
		return oidc.ErrInvalidRequest().WithDescription("a parameter is repeated: %s", k)
	}
	if q.Get("request") != "" {
		return oidc.ErrRequestNotSupported().WithDescription("request objects are not supported")
	}
	if q.Get("request_uri") != "" {
		return oidc.ErrInvalidRequest().WithDescription("request_uri cannot be pushed")
	}
	if !slices.Contains(strings.Fields(q.Get("scope")), "openid") {
		return oidc.ErrInvalidScope().WithDescription("the openid scope is required")
	}
	if rt := q.Get("response_type"); rt != "code" {
		return &oidc.Error{ErrorType: "unsupported_response_type", Description: "only response_type=code is supported"}
	}
	// The modes discovery names. form_post's page would need an inline script, which the
	// Content-Security-Policy of every answer forbids: the library's page stayed blank.
	switch oidc.ResponseMode(q.Get("response_mode")) {
	case "", oidc.ResponseModeQuery, oidc.ResponseModeFragment:
	default:
		return oidc.ErrInvalidRequest().WithDescription("response_mode must be query or fragment")
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case challenge == "" && c.Type != storage.ClientConfidential:
		return oidc.ErrInvalidRequest().WithDescription("PKCE with code_challenge_method=S256 is required")
	case challenge != "" && method != "S256":
		return oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	case challenge != "" && !validS256Challenge(challenge):
		return oidc.ErrInvalidRequest().WithDescription("code_challenge must be 43 characters of base64url (RFC 7636)")
	case challenge == "" && method != "":
		return oidc.ErrInvalidRequest().WithDescription("code_challenge_method without code_challenge")
	}
	if !slices.Contains(c.GrantTypes, "authorization_code") {
		return oidc.ErrUnauthorizedClient().WithDescription("this client may not use the authorization code grant")
	}
	if _, err := checkResources(c, q["resource"]); err != nil {
		return err // RFC 8707 §2: invalid_target
	}
	return nil
}

// browserBinding returns the hash of the browser's binding secret, creating the cookie when
// the browser has none. Only the hash is stored with the auth request.
func (p *Provider) browserBinding(w http.ResponseWriter, r *http.Request) string {
	if h := p.browserHash(r); h != "" {
		return h
	}
	v := secret.RandomToken(32)
	http.SetCookie(w, &http.Cookie{
		Name:     p.cfg.BrowserCookie,
		Value:    v,
		Path:     "/",
		HttpOnly: true,
		Secure:   p.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	})
	return secret.HashToken(v)
}

// browserHash is the hash of the browser's binding secret; "" when it has none.
func (p *Provider) browserHash(r *http.Request) string {
	if c, err := r.Cookie(p.cfg.BrowserCookie); err == nil && len(c.Value) >= 32 && len(c.Value) <= 64 {
		return secret.HashToken(c.Value)
	}
	return ""
}

// checkBrowserBinding refuses to complete an auth request in a browser other than the one
// that started it: a leaked callback URL is useless elsewhere.
func (p *Provider) checkBrowserBinding(w http.ResponseWriter, r *http.Request) bool {
	id := r.URL.Query().Get("id")
	ar, err := p.cfg.Store.GetAuthRequest(r.Context(), id)
	if err != nil {
		p.cfg.ErrorPage(w, r, http.StatusBadRequest, "Sign-in expired", "This sign-in request is unknown or has expired. Please return to the application and start again.")
		return false
	}
	c, err := r.Cookie(p.cfg.BrowserCookie)
	if err != nil || !secret.Equal(secret.HashToken(c.Value), ar.BrowserHash) {
		p.cfg.Logger.WarnContext(r.Context(), "authorize callback from another browser", "client_id", ar.ClientID)
		p.cfg.ErrorPage(w, r, http.StatusForbidden, "Different browser",
			"This sign-in was started in another browser. Please return to the application and start again here.")
		return false
	}
	return true
}

// redirectError sends an OAuth error to a redirect URI already known to be registered.
func redirectError(w http.ResponseWriter, r *http.Request, redirect, code, desc, state, issuer string) {
	u, err := redirecturi.ErrorURL(redirect, code, desc, state, issuer)
	if err != nil {
		http.Error(w, "invalid redirect_uri", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, u, http.StatusFound)
}

// logoutURL sends a logout without id_token_hint to the UI's confirmation page, passing on
// the post-logout redirect only when it is registered for the client, exactly.
func (s *opStorage) logoutURL(ctx context.Context, req *zop.EndSessionRequest) (string, error) {
	uri, err := s.postLogoutURI(ctx, req)
	if err != nil {
		return "", err
	}
	return s.confirmURL(ctx, req, uri), nil
}

// confirmURL is the confirmation page's URL, with uri (postLogoutURI's; "" for none).
func (s *opStorage) confirmURL(ctx context.Context, req *zop.EndSessionRequest, uri string) string {
	v := url.Values{}
	if uri != "" {
		v.Set("client_id", req.ClientID)
		v.Set("post_logout_redirect_uri", uri)
		if st := requestInfoFrom(ctx).state; st != "" {
			v.Set("state", st)
		}
	}
	if len(v) == 0 {
		return s.logoutPath
	}
	return s.logoutPath + "?" + v.Encode()
}

// postLogoutURI returns the requested post-logout redirect URI when it is registered for the
// client byte for byte (the library would also accept a loopback port change), else "". An
// error is ours: the client could not be read, and where the person returns to is unknown.
func (s *opStorage) postLogoutURI(ctx context.Context, req *zop.EndSessionRequest) (string, error) {
	uri := requestInfoFrom(ctx).postLogoutURI
	if uri == "" || req.ClientID == "" {
		return "", nil
	}
	c, err := s.store.GetClient(ctx, req.ClientID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("end session: read the client: %w", err)
	case !redirecturi.Allowed(c.PostLogoutRedirectURIs, uri, false):
		return "", nil
	}
	return uri, nil
}

// issWriter adds iss to the authorization response redirect (RFC 9207), which lets a client
// that talks to several providers detect a mix-up attack. The library does not add it.
type issWriter struct {
	http.ResponseWriter
	issuer string
}

func (w *issWriter) WriteHeader(code int) {
	if code == http.StatusFound || code == http.StatusSeeOther {
		// Only authorization responses (to the client): not our redirect to the sign-in page.
		if u, err := url.Parse(w.Header().Get("Location")); err == nil && u.Query().Get("iss") == "" &&
			(u.Query().Has("code") || u.Query().Has("error")) {
			q := u.Query()
			q.Set("iss", w.issuer)
			u.RawQuery = q.Encode()
			w.Header().Set("Location", u.String())
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// endSessionWriter turns the library's JSON error at end_session (an id_token_hint that is
// not our valid ID token, a post-logout URI it refuses) into what a request without a hint
// gets: the sign-out question, with the post-logout URI only when it is registered for the
// client named (logoutURL). end_session is a browser's page: the person was shown a JSON
// error they could do nothing with, and was not signed out. Nothing from the refused hint
// is trusted. A failure of ours passes through to the fault mapping (503).
type endSessionWriter struct {
	http.ResponseWriter
	r        *http.Request
	p        *Provider
	replaced bool
}

func (w *endSessionWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *endSessionWriter) WriteHeader(code int) {
	if code < 400 || code >= 500 || fault.FromContext(w.r.Context()).Err() != nil ||
		!strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	u, err := w.p.storage.logoutURL(w.r.Context(), &zop.EndSessionRequest{ClientID: w.r.Form.Get("client_id")})
	if err != nil {
		// Recorded by the store guard: the fault mapping answers our failure instead.
		w.p.cfg.Logger.ErrorContext(w.r.Context(), "end session", "err", err)
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.replaced = true
	w.Header().Del("Content-Type")
	w.Header().Del("Content-Length")
	w.Header().Set("Location", u)
	w.ResponseWriter.WriteHeader(http.StatusFound)
}

func (w *endSessionWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// uiLocaleTags parses the UI's languages for discovery; English when none (or none parse).
func uiLocaleTags(langs []string) []language.Tag {
	var tags []language.Tag
	for _, l := range langs {
		if t, err := language.Parse(l); err == nil {
			tags = append(tags, t)
		}
	}
	if len(tags) == 0 {
		return []language.Tag{language.English}
	}
	return tags
}
