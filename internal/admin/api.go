package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/fault"
	"github.com/myaccount/myaccount/internal/mfa"
)

// Prefix is where the admin API is mounted.
const Prefix = "/admin/api/v1"

// ErrInvalidToken is a bearer token that is not a live access token (TokenVerifier's
// answer; any other error from it is a failure of ours).
var ErrInvalidToken = errors.New("admin: invalid access token")

// Token is a verified bearer access token.
type Token struct {
	Subject  string // the person, or the client for client_credentials
	ClientID string
	Scopes   []string
	Person   bool     // issued to a person's sign-in
	AMR      []string // the methods that sign-in proved
}

// TokenVerifier checks a bearer token with the provider's own verification (op.Provider's
// VerifyAccessToken behind an adapter): ErrInvalidToken when it is not live.
type TokenVerifier func(ctx context.Context, token string) (Token, error)

// Limits bound requests per window, per client IP (before the token is looked at, so floods
// of bad tokens are bounded too) and per bearer token (once it is verified). The counts are
// kept in SQL (Counters), so they hold across instances and restarts. Window must not exceed
// the counters' retention (sqlstore.CounterRetention, a week).
type Limits struct {
	PerToken int
	PerIP    int
	Window   time.Duration
}

// DefaultLimits: 300 requests a minute per token, 600 per IP.
func DefaultLimits() Limits { return Limits{PerToken: 300, PerIP: 600, Window: time.Minute} }

// APIConfig builds an API.
type APIConfig struct {
	Service  *Service
	Verify   TokenVerifier
	ClientIP func(*http.Request) string
	Limits   Limits // zero: DefaultLimits
	// Counters keeps the rate limits' counts: the store (required).
	Counters Counters
	Logger   *slog.Logger
	Now      func() time.Time
}

// API is the admin HTTP API: JSON, bearer tokens, problem+json errors (RFC 9457), opaque
// cursors, ETags and If-Match, rate limits. Every operation is the Service's; the API only
// translates.
type API struct {
	cfg APIConfig
	mux *http.ServeMux
}

// route is one operation; routes is the single list the router is built from and the
// OpenAPI test compares with the document.
type route struct {
	method, path string
	handle       func(a *API, w http.ResponseWriter, r *http.Request, actor Actor)
}

var routes = []route{
	{"GET", "/clients", (*API).listClients},
	{"POST", "/clients", (*API).createClient},
	{"GET", "/clients/{id}", (*API).getClient},
	{"PATCH", "/clients/{id}", (*API).updateClient},
	{"DELETE", "/clients/{id}", (*API).deleteClient},
	{"POST", "/clients/{id}/rotate-secret", (*API).rotateSecret},
	{"GET", "/users", (*API).searchUsers},
	{"GET", "/users/{id}", (*API).getUser},
	{"DELETE", "/users/{id}", (*API).deleteUser},
	{"POST", "/users/{id}/lock", (*API).lockUser},
	{"POST", "/users/{id}/unlock", (*API).unlockUser},
	{"POST", "/users/{id}/resend-activation", (*API).resendActivation},
	{"POST", "/users/{id}/send-reset", (*API).sendReset},
	{"POST", "/users/{id}/remove-factors", (*API).removeFactors},
	{"POST", "/users/{id}/sign-out-everywhere", (*API).signOutEverywhere},
	{"GET", "/audit-events", (*API).queryAudit},
	{"GET", "/audit-events/export", (*API).exportAudit},
}

// openAPIPath serves the OpenAPI document (no token needed: it holds no data).
const openAPIPath = "/openapi.yaml"

// Routes lists "METHOD /path" of every operation (paths relative to Prefix), plus the
// document's own route.
func Routes() []string {
	out := []string{"GET " + openAPIPath}
	for _, rt := range routes {
		out = append(out, rt.method+" "+rt.path)
	}
	return out
}

// NewAPI builds the API.
func NewAPI(cfg APIConfig) (*API, error) {
	if cfg.Service == nil || cfg.Verify == nil || cfg.Counters == nil {
		return nil, errors.New("admin api: Service, Verify and Counters are required")
	}
	if cfg.Limits.PerToken <= 0 || cfg.Limits.PerIP <= 0 || cfg.Limits.Window <= 0 {
		cfg.Limits = DefaultLimits()
	}
	if cfg.ClientIP == nil {
		// The peer's address without its port: a port per connection would give each
		// connection a limit of its own.
		cfg.ClientIP = func(r *http.Request) string {
			if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
				return host
			}
			return r.RemoteAddr
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &API{cfg: cfg, mux: http.NewServeMux()}
	for _, rt := range routes {
		a.mux.Handle(rt.method+" "+Prefix+rt.path, a.authenticated(rt.handle))
	}
	a.mux.HandleFunc("GET "+Prefix+openAPIPath, serveOpenAPI)
	return a, nil
}

type actorKey struct{}

// ServeHTTP applies the per-IP limit, then routes; unknown paths and methods answer
// problem+json too.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.allow(w, r, ipKey(a.cfg.ClientIP(r)), a.cfg.Limits.PerIP) {
		return
	}
	h, pattern := a.mux.Handler(r)
	if pattern == "" {
		// No route: let the mux decide between 404 and 405 (and its Allow header), then
		// answer in problem+json.
		cw := &statusCapture{header: http.Header{}}
		h.ServeHTTP(cw, r)
		if allow := cw.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		status := cw.status
		if status == 0 || status == http.StatusOK {
			status = http.StatusNotFound
		}
		problem(w, status, "", "")
		return
	}
	a.mux.ServeHTTP(w, r) // (not h: only the mux sets the path values)
}

// Route is the template of the route that serves r (e.g. "/admin/api/v1/clients/{id}"), for
// metrics labels that stay a fixed set; "" when no route matches.
func (a *API) Route(r *http.Request) string {
	_, pattern := a.mux.Handler(r)
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

type statusCapture struct {
	header http.Header
	status int
}

func (c *statusCapture) Header() http.Header         { return c.header }
func (c *statusCapture) Write(b []byte) (int, error) { return len(b), nil }
func (c *statusCapture) WriteHeader(s int)           { c.status = s }

// realm names the protection space in WWW-Authenticate.
const realm = `Bearer realm="myaccount-admin"`

// authenticated checks the bearer token and builds the actor: a person's roles come from
// their account (intersected with the token's scopes), a client's permissions from its
// scopes. A token without any admin scope is refused here (insufficient_scope).
func (a *API) authenticated(h func(*API, http.ResponseWriter, *http.Request, Actor)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz := r.Header.Get("Authorization")
		scheme, token, _ := strings.Cut(authz, " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			w.Header().Set("WWW-Authenticate", realm)
			problem(w, http.StatusUnauthorized, "", "A bearer access token is required.")
			return
		}
		t, err := a.cfg.Verify(r.Context(), token)
		if errors.Is(err, ErrInvalidToken) {
			w.Header().Set("WWW-Authenticate", realm+`, error="invalid_token"`)
			problem(w, http.StatusUnauthorized, "", "The access token is not valid (expired, revoked or unknown).")
			return
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		// Counted once the token is known to be live: a counter row per made-up token would
		// let a flood of them fill the table (the per-IP limit bounds those).
		if !a.allow(w, r, tokenKey(token), a.cfg.Limits.PerToken) {
			return
		}
		ip, ua := a.cfg.ClientIP(r), r.UserAgent()
		actor := Actor{ClientID: t.ClientID, Scopes: t.Scopes, IP: ip, UserAgent: ua}
		if t.Person {
			if actor, err = a.cfg.Service.PersonActor(r.Context(), t.Subject, t.ClientID, t.Scopes, t.AMR, ip, ua); err != nil {
				a.fail(w, r, err)
				return
			}
		}
		if actor.NeedsSecondFactor() {
			// RFC 9470: the client signs the person in again asking for this level.
			w.Header().Set("WWW-Authenticate", realm+`, error="insufficient_user_authentication", `+
				`error_description="A sign-in with a second factor is required", acr_values="`+mfa.ACRMFA+`"`)
			problem(w, http.StatusUnauthorized, "", "A person's token acts as staff only from a sign-in that proved a second factor: sign in again with acr_values="+mfa.ACRMFA+".")
			return
		}
		if len(actor.Effective()) == 0 {
			w.Header().Set("WWW-Authenticate", realm+`, error="insufficient_scope", scope="`+strings.Join(AllScopes, " ")+`"`)
			problem(w, http.StatusForbidden, "", "The token carries no admin scope this account may use.")
			return
		}
		h(a, w, r.WithContext(context.WithValue(r.Context(), actorKey{}, actor)), actor)
	})
}

// Problem types (RFC 9457 §3.1.1): URNs, since they identify rather than document.
const problemBase = "urn:myaccount:admin:problem:"

var problemSlugs = map[int]string{
	http.StatusBadRequest:           "bad-request",
	http.StatusUnauthorized:         "unauthorized",
	http.StatusForbidden:            "forbidden",
	http.StatusNotFound:             "not-found",
	http.StatusMethodNotAllowed:     "method-not-allowed",
	http.StatusConflict:             "conflict",
	http.StatusPreconditionFailed:   "precondition-failed",
	http.StatusUnsupportedMediaType: "unsupported-media-type",
	http.StatusUnprocessableEntity:  "validation",
	http.StatusPreconditionRequired: "precondition-required",
	http.StatusTooManyRequests:      "rate-limited",
	http.StatusInternalServerError:  "server-error",
	http.StatusServiceUnavailable:   "unavailable",
}

// ProblemDoc is an RFC 9457 problem document.
type ProblemDoc struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Invalid lists the fields of a validation problem (RFC 9457 §3's example extension).
	Invalid []InvalidParam `json:"invalid_params,omitempty"`
}

// InvalidParam is one invalid parameter of a validation problem.
type InvalidParam struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// WriteProblem writes a problem+json answer; the server's fault mapping uses it for the
// failures it answers on the API's behalf (503 with Retry-After).
func WriteProblem(w http.ResponseWriter, status int, detail string) { problem(w, status, "", detail) }

func problem(w http.ResponseWriter, status int, slug, detail string, invalid ...InvalidParam) {
	if slug == "" {
		slug = problemSlugs[status]
		if slug == "" {
			slug = "error"
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Del("ETag")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ProblemDoc{Type: problemBase + slug, Title: http.StatusText(status), Status: status,
		Detail: detail, Invalid: invalid})
}

func tooMany(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	problem(w, http.StatusTooManyRequests, "", "Too many requests; retry after the number of seconds in Retry-After.")
}

// fail answers a service error. A failure of ours (the store) is 503 and never the client's
// fault; the server's fault mapping answers it the same way when it saw the failure first.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ve *ValidationError
	var fe *ForbiddenError
	switch {
	case fault.Is(err):
		a.cfg.Logger.WarnContext(r.Context(), "admin api: dependency failed", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		problem(w, http.StatusServiceUnavailable, "", "The service is temporarily unavailable. Please retry shortly.")
	case errors.As(err, &fe):
		problem(w, http.StatusForbidden, "", "Your token or role does not allow you to "+fe.Need.String()+".")
	case errors.Is(err, ErrForbidden):
		problem(w, http.StatusForbidden, "", "This account may not use the admin API.")
	case errors.Is(err, ErrNotFound):
		problem(w, http.StatusNotFound, "", "")
	case errors.As(err, &ve):
		inv := make([]InvalidParam, len(ve.Problems))
		for i, p := range ve.Problems {
			inv[i] = InvalidParam{Name: p.Field, Reason: p.Text(p.Field)}
		}
		problem(w, http.StatusUnprocessableEntity, "", "The request has invalid parameters.", inv...)
	case errors.Is(err, ErrPreconditionFailed):
		problem(w, http.StatusPreconditionFailed, "", "The resource changed since you read it: read it again (new ETag) and retry.")
	case errors.Is(err, ErrKeyReused):
		problem(w, http.StatusUnprocessableEntity, "", "This Idempotency-Key was used for another request, more than 24 hours ago, or for a client deleted since: use a new key.")
	case errors.Is(err, ErrWrongState):
		problem(w, http.StatusConflict, "", "Not possible in the resource's current state.")
	default:
		a.cfg.Logger.ErrorContext(r.Context(), "admin api", "path", r.URL.Path, "err", err)
		problem(w, http.StatusInternalServerError, "", "")
	}
}

func writeJSON(w http.ResponseWriter, status int, etag string, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if etag != "" {
		h.Set("ETag", etag)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body strictly (unknown fields refused). An empty body is allowed
// when optional.
func decode(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	if r.ContentLength == 0 && optional {
		return true
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "application/merge-patch+json") {
		problem(w, http.StatusUnsupportedMediaType, "", "Send application/json.")
		return false
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) && optional {
			return true
		}
		problem(w, http.StatusBadRequest, "", "The body is not the JSON this operation takes: "+jsonError(err))
		return false
	}
	return true
}

// jsonError describes a decoding error without echoing the body.
func jsonError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "malformed JSON"
	case errors.As(err, &te):
		return "field " + te.Field + " has the wrong type"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "unreadable"
}

// ifMatch returns the If-Match header for an update that requires it; without one it
// answers 428 and returns false. "*" matches any current version.
func ifMatch(w http.ResponseWriter, r *http.Request) (string, bool) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" {
		problem(w, http.StatusPreconditionRequired, "", "Send If-Match with the ETag you read, so that you change only what you saw.")
		return "", false
	}
	if v == "*" {
		return "", true
	}
	return strings.TrimPrefix(v, "W/"), true
}

// optionalIfMatch is If-Match when given (actions that do not require it).
func optionalIfMatch(r *http.Request) string {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "*" {
		return ""
	}
	return strings.TrimPrefix(v, "W/")
}

// page is a list answer; Next is the opaque cursor of the following page.
type page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// writePage answers a page with a Link rel="next" as well as the next field.
func writePage[T any](w http.ResponseWriter, r *http.Request, items []T, next string) {
	if items == nil {
		items = []T{}
	}
	if next != "" {
		q := r.URL.Query()
		q.Set("cursor", next)
		w.Header().Set("Link", "<"+r.URL.Path+"?"+q.Encode()+`>; rel="next"`)
	}
	writeJSON(w, http.StatusOK, "", page[T]{Items: items, Next: next})
}

func limitParam(w http.ResponseWriter, r *http.Request) (int, bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 0, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxPage {
		problem(w, http.StatusUnprocessableEntity, "", "", InvalidParam{Name: "limit", Reason: fmt.Sprintf("limit must be 1 to %d", MaxPage)})
		return 0, false
	}
	return n, true
}

// --- clients

// clientCursor pages clients by id (they are few; the list is read whole and cut).
func clientCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte("c:" + id)) }

func (a *API) listClients(w http.ResponseWriter, r *http.Request, actor Actor) {
	limit, ok := limitParam(w, r)
	if !ok {
		return
	}
	after := ""
	if c := r.URL.Query().Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || !strings.HasPrefix(string(b), "c:") {
			a.fail(w, r, &ValidationError{Problems: []Problem{{Field: "cursor", Reason: "is not a cursor this API gave"}}})
			return
		}
		after = string(b[2:])
	}
	cs, err := a.cfg.Service.ListClients(r.Context(), actor)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	slices.SortFunc(cs, func(x, y *Client) int { return strings.Compare(x.ClientID, y.ClientID) })
	out := []*Client{}
	for _, c := range cs {
		if c.ClientID > after {
			out = append(out, c)
		}
	}
	n, next := pageSize(limit), ""
	if len(out) > n {
		out = out[:n]
		next = clientCursor(out[n-1].ClientID)
	}
	writePage(w, r, out, next)
}

// createdClient is a new client with its secret, shown only in this answer.
type createdClient struct {
	*Client
	ClientSecret string `json:"client_secret,omitempty"`
}

func (a *API) createClient(w http.ResponseWriter, r *http.Request, actor Actor) {
	if !actor.Can(ManageClients) { // before reading the body
		a.fail(w, r, &ForbiddenError{Need: ManageClients})
		return
	}
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	var b ClientSpec
	if !decode(w, r, &b, false) {
		return
	}
	c, sec, err := a.cfg.Service.CreateClientOnce(r.Context(), actor, b, key)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", Prefix+"/clients/"+url.PathEscape(c.ClientID))
	writeJSON(w, http.StatusCreated, c.ETag, createdClient{Client: c, ClientSecret: sec})
}

// idempotencyKey is the request's Idempotency-Key ("" for none); a malformed one is answered
// (400) and ok is false.
func idempotencyKey(w http.ResponseWriter, r *http.Request) (string, bool) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 || strings.ContainsFunc(key, func(c rune) bool { return c < 0x20 || c > 0x7e }) {
		problem(w, http.StatusBadRequest, "", "Idempotency-Key must be at most 255 printable ASCII characters.")
		return "", false
	}
	return key, true
}

func (a *API) getClient(w http.ResponseWriter, r *http.Request, actor Actor) {
	c, err := a.cfg.Service.GetClient(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c.ETag, c)
}

func (a *API) updateClient(w http.ResponseWriter, r *http.Request, actor Actor) {
	if !actor.Can(ManageClients) {
		a.fail(w, r, &ForbiddenError{Need: ManageClients})
		return
	}
	tag, ok := ifMatch(w, r)
	if !ok {
		return
	}
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	var p ClientPatch
	if !decode(w, r, &p, false) {
		return
	}
	c, err := a.cfg.Service.UpdateClientOnce(r.Context(), actor, r.PathValue("id"), tag, p, key)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c.ETag, c)
}

func (a *API) deleteClient(w http.ResponseWriter, r *http.Request, actor Actor) {
	if !actor.Can(ManageClients) {
		a.fail(w, r, &ForbiddenError{Need: ManageClients})
		return
	}
	tag, ok := ifMatch(w, r)
	if !ok {
		return
	}
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	if err := a.cfg.Service.DeleteClientOnce(r.Context(), actor, r.PathValue("id"), tag, key); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) rotateSecret(w http.ResponseWriter, r *http.Request, actor Actor) {
	id := r.PathValue("id")
	sec, err := a.cfg.Service.RotateSecret(r.Context(), actor, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, "", map[string]string{"client_id": id, "client_secret": sec})
}

// --- users

func (a *API) searchUsers(w http.ResponseWriter, r *http.Request, actor Actor) {
	limit, ok := limitParam(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	p, err := a.cfg.Service.SearchUsers(r.Context(), actor, UserFilter{EmailPrefix: q.Get("email_prefix"), Status: q.Get("status")},
		q.Get("cursor"), limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writePage(w, r, p.Users, p.Next)
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, actor Actor) {
	d, err := a.cfg.Service.GetUser(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d.ETag, d)
}

// actionBody is the body of the user actions.
type actionBody struct {
	Reason string `json:"reason"`
	// Kind limits remove-factors to totp or webauthn ("" = every factor).
	Kind string `json:"kind,omitempty"`
	// key is the Idempotency-Key header (of the actions that take one).
	key string
}

func (a *API) action(w http.ResponseWriter, r *http.Request, needKind bool) (actionBody, bool) {
	var b actionBody
	var ok bool
	if b.key, ok = idempotencyKey(w, r); !ok {
		return b, false
	}
	if !decode(w, r, &b, true) {
		return b, false
	}
	if b.Kind != "" && !needKind {
		problem(w, http.StatusUnprocessableEntity, "", "", InvalidParam{Name: "kind", Reason: "kind applies to remove-factors only"})
		return b, false
	}
	return b, true
}

func (a *API) userState(w http.ResponseWriter, r *http.Request, u *User, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u.ETag, u)
}

func (a *API) lockUser(w http.ResponseWriter, r *http.Request, actor Actor) {
	if b, ok := a.action(w, r, false); ok {
		u, err := a.cfg.Service.LockUserOnce(r.Context(), actor, r.PathValue("id"), optionalIfMatch(r), b.Reason, b.key)
		a.userState(w, r, u, err)
	}
}

func (a *API) unlockUser(w http.ResponseWriter, r *http.Request, actor Actor) {
	if b, ok := a.action(w, r, false); ok {
		u, err := a.cfg.Service.UnlockUserOnce(r.Context(), actor, r.PathValue("id"), optionalIfMatch(r), b.Reason, b.key)
		a.userState(w, r, u, err)
	}
}

func (a *API) done(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) resendActivation(w http.ResponseWriter, r *http.Request, actor Actor) {
	if b, ok := a.action(w, r, false); ok {
		a.done(w, r, a.cfg.Service.ResendActivationOnce(r.Context(), actor, r.PathValue("id"), b.Reason, b.key))
	}
}

func (a *API) sendReset(w http.ResponseWriter, r *http.Request, actor Actor) {
	if b, ok := a.action(w, r, false); ok {
		a.done(w, r, a.cfg.Service.SendResetOnce(r.Context(), actor, r.PathValue("id"), b.Reason, b.key))
	}
}

func (a *API) signOutEverywhere(w http.ResponseWriter, r *http.Request, actor Actor) {
	if b, ok := a.action(w, r, false); ok {
		a.done(w, r, a.cfg.Service.SignOutEverywhereOnce(r.Context(), actor, r.PathValue("id"), b.Reason, b.key))
	}
}

func (a *API) removeFactors(w http.ResponseWriter, r *http.Request, actor Actor) {
	b, ok := a.action(w, r, true)
	if !ok {
		return
	}
	n, err := a.cfg.Service.RemoveFactorsOnce(r.Context(), actor, r.PathValue("id"), b.Kind, b.Reason, b.key)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, "", map[string]int{"removed": n})
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request, actor Actor) {
	if !actor.Can(ManageUsers) {
		a.fail(w, r, &ForbiddenError{Need: ManageUsers})
		return
	}
	tag, ok := ifMatch(w, r)
	if !ok {
		return
	}
	b, ok := a.action(w, r, false)
	if !ok {
		return
	}
	if b.Reason == "" {
		b.Reason = r.URL.Query().Get("reason")
	}
	a.done(w, r, a.cfg.Service.DeleteUserOnce(r.Context(), actor, r.PathValue("id"), tag, b.Reason, b.key))
}

// --- audit

func auditFilter(w http.ResponseWriter, r *http.Request) (AuditFilter, bool) {
	q := r.URL.Query()
	f := AuditFilter{UserID: q.Get("user"), ClientID: q.Get("client"), Actor: q.Get("actor"), Target: q.Get("target"), Type: q.Get("type")}
	var bad []InvalidParam
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				bad = append(bad, InvalidParam{Name: name, Reason: name + " must be an RFC 3339 time, e.g. 2026-01-31T12:00:00Z"})
				continue
			}
			*dst = t
		}
	}
	if len(bad) > 0 {
		problem(w, http.StatusUnprocessableEntity, "", "", bad...)
		return f, false
	}
	return f, true
}

func (a *API) queryAudit(w http.ResponseWriter, r *http.Request, actor Actor) {
	limit, ok := limitParam(w, r)
	if !ok {
		return
	}
	f, ok := auditFilter(w, r)
	if !ok {
		return
	}
	p, err := a.cfg.Service.QueryAudit(r.Context(), actor, f, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writePage(w, r, p.Events, p.Next)
}

// exportWriter sends the headers with the first line, so that a failure before any line
// (the store) can still be answered with a status.
type exportWriter struct {
	w       http.ResponseWriter
	started bool
}

func (e *exportWriter) Write(b []byte) (int, error) {
	if !e.started {
		e.started = true
		e.w.Header().Set("Content-Type", "application/jsonl")
		e.w.Header().Set("Content-Disposition", `attachment; filename="audit-events.jsonl"`)
		e.w.Header().Set("Cache-Control", "no-store")
		e.w.WriteHeader(http.StatusOK)
	}
	return e.w.Write(b)
}

func (a *API) exportAudit(w http.ResponseWriter, r *http.Request, actor Actor) {
	f, ok := auditFilter(w, r)
	if !ok {
		return
	}
	ew := &exportWriter{w: w}
	n, err := a.cfg.Service.ExportAudit(r.Context(), actor, f, ew)
	switch {
	case err != nil && !ew.started:
		a.fail(w, r, err)
	case err != nil:
		// Lines are out: the status is sent. Cut the response so the client sees a broken
		// transfer rather than a short export that looks complete.
		a.cfg.Logger.ErrorContext(r.Context(), "admin api: audit export cut", "lines", n, "err", err)
		panic(http.ErrAbortHandler)
	case !ew.started:
		ew.Write(nil) // an empty export is still a 200 with the headers
	}
}
