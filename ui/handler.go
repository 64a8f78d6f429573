package ui

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/captcha"
	"github.com/myaccount/myaccount/internal/consent"
	"github.com/myaccount/myaccount/internal/deviceapproval"
	"github.com/myaccount/myaccount/internal/errcode"
	"github.com/myaccount/myaccount/internal/geo"
	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/licence"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/mfa/webauthnx"
	"github.com/myaccount/myaccount/internal/phone"
	"github.com/myaccount/myaccount/internal/requestid"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/ui/web"
)

// Store is what the UI needs from storage beyond the domain services (sessions, consent,
// guards), which keep their own rules.
type Store interface {
	// The WebAuthn ceremonies read and record credentials (webauthnx.LookupStore, Store).
	GetMFACredentialByCredentialID(ctx context.Context, credentialID []byte) (*storage.MFACredential, error)
	ListMFACredentials(ctx context.Context, userID string) ([]*storage.MFACredential, error)
	UpdateMFACredential(ctx context.Context, id string, fn func(*storage.MFACredential) error) (*storage.MFACredential, error)
	UpdateUser(ctx context.Context, id string, fn func(*storage.User) error) (*storage.User, error)
	GetAuthRequest(ctx context.Context, id string) (*storage.AuthRequest, error)
	CompleteAuthRequest(ctx context.Context, id, userID, sessionID string, authTime time.Time, amr []string, acr string) error
	// InTx completes a request and stores its code in one transaction (completion.store).
	InTx(ctx context.Context, fn func(tx storage.Store) error) error
	RebindAuthRequests(ctx context.Context, oldHash, newHash string) (int64, error)
	GetClient(ctx context.Context, id string) (*storage.Client, error)
	GetUser(ctx context.Context, id string) (*storage.User, error)
}

// Keys are the UI's own keys, each derived for its purpose (internal/subkey); the UI never
// holds the master key.
type Keys struct {
	CSRF          []byte // signs CSRF tokens
	SealedCookies []byte // encrypts sealed cookies
	DeviceCookie  []byte // signs device cookies
}

// Translator localizes UI text (internal/i18n.Bundle).
type Translator interface {
	Lang(prefs ...string) string
	T(lang, msg string, args ...any) string
	Languages() []i18n.Language
}

// Config holds the UI's dependencies.
type Config struct {
	Store    Store
	Accounts *account.Service
	// Sessions starts, resolves and ends browser sessions (its TTL and idle limit apply).
	Sessions *sessions.Service
	Consent  *consent.Service
	Guard    *guard.Guard
	// Devices finds and decides device-flow requests (RFC 8628).
	Devices *deviceapproval.Service
	I18n    Translator
	Captcha *captcha.Service
	Geo     *geo.Data
	MFA     *mfa.Service
	// WebAuthn is nil when the issuer cannot be a WebAuthn relying party (an IP address).
	WebAuthn *webauthnx.WebAuthn
	// EmailCodes asks accounts without a strong factor for an emailed code in new browsers.
	EmailCodes    bool
	Issuer        string
	Keys          Keys
	SecureCookies bool
	// CallbackURL returns where to send the browser once an auth request is done.
	CallbackURL func(ctx context.Context, authRequestID string) string
	// IssueCode makes the code of a code-flow request about to be completed and the
	// authorization response that hands it to the client (op.Provider.IssueCode): the code
	// is stored in the completing transaction and the browser goes straight to the client.
	// ok false (or nil IssueCode): the browser goes to CallbackURL, which issues it.
	IssueCode func(ar *storage.AuthRequest) (code IssuedCode, ok bool)
	// BrowserCookie is the cookie that binds an auth request to the browser (set by op).
	BrowserCookie string
	SessionCookie string
	ClientIP      func(*http.Request) string
	ProductName   string
	LogoURL       string
	AccentColor   string
	ThemeDir      string // optional: files here override the embedded templates and static files
	Logger        *slog.Logger
	Now           func() time.Time
	// Admin serves the admin console at /admin (nil: no console); AdminKeys its signing-key
	// page (nil: none).
	Admin     *admin.Service
	AdminKeys *admin.Keys
	// Licences serves the person's licences page (nil: no page); LicenceRenewalURL is where
	// licences are renewed (licences.renewal_url; "" = no link).
	Licences          *licence.Service
	LicenceRenewalURL string
	// Phones serves the person's phone number page (nil: no page). SMS is mfa.sms (off,
	// fallback, enabled); ResetBySMS is accounts.reset_by_sms (issue 15).
	Phones     *phone.Service
	SMS        string
	ResetBySMS bool
}

// Handler serves the UI.
type Handler struct {
	cfg Config
	// pages parse their templates on first use (see New).
	pages map[string]func() (*template.Template, error)
	// folded are the pages rendered, by page and language ("": no translations folded):
	// parsed on first use with what is the same on every page in the language folded into
	// text (foldPage).
	folded  map[string]map[string]func() (*template.Template, error)
	assets  *assets
	csrfKey []byte
	// logoOrigin is the origin of an absolute cfg.LogoURL ("" for a path on this site):
	// every page's img-src is widened by it, or the strict CSP would block the logo.
	logoOrigin string
	// languages is cfg.I18n.Languages(), asked once: pages only read it.
	languages []i18n.Language
	// static holds what every page in a language shows alike, computed once (see newPageStatic).
	static map[string]*pageStatic
	// bufs holds *bytes.Buffer for render; macs HMAC-SHA256 hashes keyed with csrfKey (mac).
	bufs, macs sync.Pool
	// csrfCookie and langCookie are the cookies' names (cookieName), named on every page.
	csrfCookie, langCookie string
}

var accentRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

var pageNames = []string{"login", "consent", "error", "logout", "account", "register", "message",
	"profile", "forgot", "reset", "confirm", "devices", "device", "mfa", "security", "notme",
	"console_stepup", "console_invalid", "console_users", "console_user", "console_clients", "console_client",
	"console_secret", "console_audit", "console_keys", "licences", "phone", "forgot_sms"}

// New parses every template once, failing on a missing or broken one. The parsed pages are
// not kept: each is parsed again on its first render in a language, and folded for it
// (foldPage), so an idle server does not hold the 28 parsed sets (about 1.3 MB of heap,
// and twice that in RSS at the default GOGC); a page is held once per language it was
// shown in.
func New(cfg Config) (*Handler, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = func(r *http.Request) string { return r.RemoteAddr }
	}
	if !accentRE.MatchString(cfg.AccentColor) {
		cfg.AccentColor = defaultAccent
	}
	for _, k := range []struct {
		name string
		key  []byte
	}{{"csrf", cfg.Keys.CSRF}, {"sealed cookies", cfg.Keys.SealedCookies}, {"device cookie", cfg.Keys.DeviceCookie}} {
		if len(k.key) != 32 {
			return nil, fmt.Errorf("ui: the %s key must be 32 bytes", k.name)
		}
	}
	if cfg.Sessions == nil || cfg.Consent == nil || cfg.Guard == nil || cfg.Devices == nil {
		return nil, errors.New("ui: the sessions, consent, guard and device approval services are required")
	}
	var files fs.FS = web.FS
	if cfg.ThemeDir != "" {
		files = overlayFS{top: os.DirFS(cfg.ThemeDir), base: web.FS}
	}
	cfg.SessionCookie = hostCookieName(cfg.SessionCookie, cfg.SecureCookies)
	cfg.BrowserCookie = hostCookieName(cfg.BrowserCookie, cfg.SecureCookies)
	h := &Handler{cfg: cfg, pages: map[string]func() (*template.Template, error){},
		folded: map[string]map[string]func() (*template.Template, error){}, csrfKey: cfg.Keys.CSRF,
		csrfCookie: hostCookieName(csrfCookie, cfg.SecureCookies), langCookie: hostCookieName(langCookie, cfg.SecureCookies)}
	if u, err := url.Parse(cfg.LogoURL); err == nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http") {
		h.logoOrigin = strings.ToLower(u.Scheme + "://" + u.Host)
	}
	th, err := deriveTheme(cfg.AccentColor)
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	for _, a := range th.adjustments() {
		cfg.Logger.Info("ui.accent_color adjusted for contrast (WCAG AA)", "change", a)
	}
	if h.assets, err = loadAssets(files, th); err != nil {
		return nil, err
	}
	if cfg.I18n != nil {
		h.languages = cfg.I18n.Languages()
		h.static = map[string]*pageStatic{}
		for _, l := range h.languages {
			if h.static[l.Tag], err = newPageStatic(cfg.I18n, h.languages, l.Tag); err != nil {
				return nil, err
			}
		}
	}
	funcs := template.FuncMap{"asset": h.assets.url}
	for _, name := range pageNames {
		parse := func() (*template.Template, error) {
			t, err := template.New(name).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+name+".html")
			if err != nil {
				return nil, fmt.Errorf("ui: parse %s: %w", name, err)
			}
			return t, nil
		}
		t, err := parse()
		if err != nil {
			return nil, err
		}
		source := parse
		if cfg.ThemeDir != "" {
			// A theme directory's files may change or go after the start: keep what was checked.
			h.pages[name] = func() (*template.Template, error) { return t, nil }
			source = t.Clone // a copy per language to fold; t itself is never executed
		} else {
			h.pages[name] = sync.OnceValues(parse) // the embedded files cannot change
		}
		// Each language's copy is folded and parsed on its first page, like the page itself.
		h.folded[name] = map[string]func() (*template.Template, error){}
		for _, l := range append([]i18n.Language{{}}, h.languages...) {
			lang := l.Tag
			T := func(msg string) string { return cfg.I18n.T(lang, msg) }
			if lang == "" {
				T = nil // a page without the common data: only its assets fold
			}
			h.folded[name][lang] = sync.OnceValues(func() (*template.Template, error) {
				t, err := source()
				if err != nil {
					return nil, err
				}
				if t, err = foldPage(t, T, h.assets.url); err != nil {
					return nil, fmt.Errorf("ui: fold %s: %w", name, err)
				}
				return t, nil
			})
		}
	}
	return h, nil
}

// Mount registers the UI's routes.
func (h *Handler) Mount(r *mux.Router) {
	r.PathPrefix("/static/").Handler(http.StripPrefix("/static/", h.assets)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/theme.css", h.themeCSS).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/favicon.ico", h.favicon).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/account", http.StatusFound)
	}).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/lang", h.switchLang).Methods(http.MethodGet)
	h.mountLogin(r)
	h.mountConsent(r)
	h.mountLogout(r)
	h.mountAccount(r)
	h.mountRegister(r)
	h.mountProfile(r)
	h.mountReset(r)
	h.mountDevices(r)
	h.mountMFA(r)
	h.mountFactors(r)
	h.mountDevice(r)
	h.mountNotMe(r)
	h.mountConsole(r)
	h.mountLicences(r)
	h.mountPhone(r)
	h.mountSMSReset(r)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ErrorPage(w, r, http.StatusNotFound, i18n.N("Not found"), i18n.N("There is no page at this address."))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ErrorPage(w, r, http.StatusMethodNotAllowed, i18n.N("Not allowed"), i18n.N("This page cannot be used that way."))
	})
}

// themeCSS keeps the old URL of the generated theme working; pages use its hashed URL.
func (h *Handler) themeCSS(w http.ResponseWriter, r *http.Request) {
	h.assets.serveName(w, r, "theme.css")
}

// favicon answers clients that ask for /favicon.ico without reading the page's icon link.
func (h *Handler) favicon(w http.ResponseWriter, r *http.Request) {
	h.assets.serveName(w, r, "favicon.svg")
}

// common is the data every page gets. Templates translate with {{.T "English text"}}.
type common struct {
	Title       string
	Lang        string
	ProductName string
	LogoURL     string
	CSRF        string
	Languages   []i18n.Language
	// Here is the current path and query, for the language switcher's way back.
	Here string
	tr   Translator
	// static is what the page's language shows on every page (nil: computed per call).
	static *pageStatic
}

// Common is the data every page has, for the layout to name once ({{$c := .Common}}): a
// field of an embedded struct costs text/template a reflect.FieldByNameFunc search, with a
// map allocated, each time it is named.
func (c common) Common() common { return c }

// pageLang is the page's language, for render to pick the page's templates in it.
func (c common) pageLang() string { return c.Lang }

// T translates msg into the page's language.
func (c common) T(msg string, args ...any) string { return c.tr.T(c.Lang, msg, args...) }

const langCookie = "myaccount_lang"

type langKey struct{}

// langPrefs holds, for one request, the languages the application asked its sign-in to
// speak (ui_locales, OIDC Core §3.1.2.1), once the page has found the sign-in it continues
// (findFlow). They come after a language the person chose here (the cookie) and before the
// account's and the browser's, so that a product's own language carries into its sign-in.
type langPrefs struct{ asked []string }

// lang picks the page language: an explicit choice (cookie), then the languages the
// application asked for (langPrefs), then the account's locale, then Accept-Language.
func (h *Handler) lang(r *http.Request, u *storage.User) string {
	var prefs []string
	if c, err := r.Cookie(h.langCookie); err == nil {
		prefs = append(prefs, c.Value)
	}
	if lp, ok := r.Context().Value(langKey{}).(*langPrefs); ok {
		prefs = append(prefs, lp.asked...)
	}
	if u != nil && u.Locale != "" {
		prefs = append(prefs, u.Locale)
	}
	prefs = append(prefs, r.Header.Get("Accept-Language"))
	return h.cfg.I18n.Lang(prefs...)
}

func (h *Handler) common(w http.ResponseWriter, r *http.Request, title string) common {
	return h.commonFor(w, r, title, nil)
}

func (h *Handler) commonFor(w http.ResponseWriter, r *http.Request, title string, u *storage.User) common {
	lang := h.lang(r, u)
	if h.logoOrigin != "" {
		allowImagesFrom(w.Header(), h.logoOrigin)
	}
	return common{Title: h.cfg.I18n.T(lang, title), Lang: lang, ProductName: h.cfg.ProductName, LogoURL: h.cfg.LogoURL,
		CSRF: h.csrfToken(w, r), Languages: h.languages, Here: herePage(r), tr: h.cfg.I18n, static: h.static[lang]}
}

// switchLang remembers a language choice and goes back to a local page.
func (h *Handler) switchLang(w http.ResponseWriter, r *http.Request) {
	to := r.URL.Query().Get("to")
	lang := h.cfg.I18n.Lang(to)
	http.SetCookie(w, &http.Cookie{Name: h.cookieName(langCookie), Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, localPath(r.URL.Query().Get("back")), http.StatusSeeOther)
}

// localPath keeps only a path on this origin, else "/account": no open redirect. Browsers
// strip tabs and newlines from URLs and read "\" as "/", so "/\t/evil.example" or "/\evil"
// would leave the site; such characters, any scheme, host or user part, and a "//" at the
// start before or after cleaning are refused outright rather than repaired.
func localPath(p string) string {
	const fallback = "/account"
	if p == "" || p[0] != '/' || len(p) > 2048 || strings.ContainsRune(p, '\\') {
		return fallback
	}
	for _, r := range p {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == utf8.RuneError {
			return fallback
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return fallback
	}
	if strings.HasPrefix(p, "//") || strings.HasPrefix(u.Path, "//") || strings.HasPrefix(path.Clean(u.Path), "//") ||
		strings.HasPrefix(strings.ToLower(u.EscapedPath()), "/%2f") || strings.HasPrefix(strings.ToLower(u.EscapedPath()), "/%5c") {
		return fallback
	}
	return p
}

// render executes a page into a buffer first, so a template error is a clean 500 rather than
// half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	buf := h.buffer()
	defer h.putBuffer(buf)
	var err error
	lang := ""
	if c, ok := data.(interface{ pageLang() string }); ok {
		lang = c.pageLang()
	}
	parse := h.folded[page][lang]
	if parse == nil {
		parse = h.folded[page][""] // a language the handler was not made with
	}
	if parse == nil {
		err = fmt.Errorf("ui: no page %q", page)
	} else if t, perr := parse(); perr != nil {
		err = perr
	} else {
		err = t.ExecuteTemplate(buf, "layout", data)
	}
	if err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "render page", "page", page, "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// buffer is an empty buffer from the pool: a page is 3 to 10 kB, and growing a new buffer to
// that took half a dozen allocations and copies per page. render puts it back.
func (h *Handler) buffer() *bytes.Buffer {
	if b, ok := h.bufs.Get().(*bytes.Buffer); ok {
		b.Reset()
		return b
	}
	return new(bytes.Buffer)
}

// maxPooledBuffer bounds what a pooled buffer may keep: an unusually long page (an admin's
// list) is not worth holding on to.
const maxPooledBuffer = 64 << 10

func (h *Handler) putBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuffer {
		h.bufs.Put(b)
	}
}

type errorPage struct {
	common
	Heading string
	Message string
	// Code is a machine-readable error code for the application's developer, shown in
	// small print ("" for none); see internal/errcode.
	Code string
	// Reference is the request id (X-Request-ID), for support to find the request's log.
	Reference string
}

// ErrorPage renders a plain error page. The message is always a safe, fixed text: causes go
// to the log, never to the person. An error code set with errcode.With is shown under it.
func (h *Handler) ErrorPage(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	c := h.common(w, r, title)
	h.render(w, r, status, "error", errorPage{common: c, Heading: c.Title, Message: c.T(message), Code: errcode.From(r.Context()),
		Reference: requestid.From(r.Context())})
}

// msgUnavailable is what a person is told of a failure of ours.
var msgUnavailable = i18n.N("We could not finish this just now. Nothing you entered is wrong: please try again in a moment.")

// UnavailablePage answers 503 when a dependency of ours failed (database down or too slow,
// too many sign-ins hashing at once): the person did nothing wrong and may simply retry.
func (h *Handler) UnavailablePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "5")
	h.ErrorPage(w, r, http.StatusServiceUnavailable, i18n.N("Temporarily unavailable"), msgUnavailable)
}

// UnavailableJSON is UnavailablePage for the pages' scripts (security keys, passkeys, the
// captcha's new numbers), which ask for JSON: the same sentence in the person's language as
// {"error": …}, which they show as they show the server's other refusals. A page in its
// place could not be read, and the scripts fell back to "the server could not be reached".
func (h *Handler) UnavailableJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "5")
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": h.cfg.I18n.T(h.lang(r, nil), msgUnavailable)})
}

func (h *Handler) now() time.Time { return h.cfg.Now().UTC() }

// fail logs an unexpected error and shows the generic error page: the cause goes to the log,
// never to the person.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.cfg.Logger.ErrorContext(r.Context(), what, "err", err)
	h.ErrorPage(w, r, http.StatusInternalServerError, i18n.N("Something went wrong"), i18n.N("Please try again in a moment."))
}

// mac is HMAC-SHA256 under the CSRF key. Keyed hashes are pooled: a new one hashes the key
// into its pads and allocates both digests, on every page (its CSRF token) and form post.
func (h *Handler) mac(parts ...string) []byte {
	m, ok := h.macs.Get().(hash.Hash)
	if ok {
		m.Reset() // back to the keyed state
	} else {
		m = hmac.New(sha256.New, h.csrfKey)
	}
	defer h.macs.Put(m)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// overlayFS serves a file from top when it exists there, else from base.
type overlayFS struct{ top, base fs.FS }

func (o overlayFS) Open(name string) (fs.File, error) {
	if f, err := o.top.Open(name); err == nil {
		return f, nil
	}
	return o.base.Open(name)
}

// getPages maps the path prefix of a form's target to the page that shows that form, with
// the form fields that page needs in its query.
var getPages = []struct {
	prefix, page string
	keep         []string
}{
	{"/account/security", "/account/security", nil},
	{"/account/devices", "/account/devices", nil},
	{"/account/phone", "/account/phone", nil},
	{"/account/email/confirm", "/account/email/confirm", []string{"token"}},
	{"/account", "/account", nil},
	{"/device", "/device", []string{"user_code"}},
	{"/register", "/register", []string{"authRequestID"}},
	{"/activate", "/activate", []string{"token"}},
	{"/login", "/login", []string{"authRequestID", "return"}},
	{"/mfa", "/mfa", nil},
	{"/consent", "/consent", []string{"authRequestID"}},
	{"/profile", "/profile", []string{"authRequestID"}},
	{"/forgot", "/forgot", []string{"authRequestID"}},
	{"/reset", "/reset", []string{"token"}},
	{"/logout", "/logout", nil},
}

// herePage is the address the language switcher returns to: the request itself for a GET,
// and for a page rendered in answer to a form post, the GET page that shows that form
// (the post's own address would answer "method not allowed").
func herePage(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return r.URL.RequestURI()
	}
	for _, g := range getPages {
		if r.URL.Path == g.prefix || strings.HasPrefix(r.URL.Path, g.prefix+"/") {
			q := url.Values{}
			for _, k := range g.keep {
				if v := r.PostFormValue(k); v != "" {
					q.Set(k, v)
				}
			}
			if len(q) == 0 {
				return g.page
			}
			return g.page + "?" + q.Encode()
		}
	}
	return "/account"
}
