package ui

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/golden"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/mfa/webauthnx"
	"github.com/myaccount/myaccount/storage"
)

// goldenCSRF is the browser's CSRF secret in these tests, so the token on the page is fixed.
const goldenCSRF = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"

// goldenHandler is a UI handler that renders pages without a store: enough for the sign-in
// page of a browser without a session.
func goldenHandler(tb testing.TB, passkeys bool) *Handler {
	tb.Helper()
	cfg := lazyTestConfig("")
	cfg.ProductName = "MyAccount"
	cfg.Issuer = "https://id.example.com"
	cfg.SecureCookies = true
	b, err := i18n.New()
	if err != nil {
		tb.Fatal(err)
	}
	cfg.I18n = b
	cfg.Logger = slog.New(slog.DiscardHandler)
	if passkeys {
		cfg.WebAuthn = &webauthnx.WebAuthn{} // only its presence matters to the sign-in page
	}
	h, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// goldenServe is the path a page takes in the server: security headers, then the UI's
// middleware, then the route.
func goldenServe(h *Handler, route http.Handler) http.Handler {
	return SecurityHeaders(h.Middleware(route), true, 1<<20)
}

// goldenFlow is an authorization request of a product whose name needs escaping.
func goldenFlow() *authFlow {
	return &authFlow{
		ar: &storage.AuthRequest{ID: "ar-0123456789", RedirectURI: "https://app.example.com/cb?x=1&y=<2>",
			State: "st \"ate\" & more"},
		client: &storage.Client{ID: "client-1", Name: `Demo <portal> & "co"`},
	}
}

type goldenCase struct {
	name     string
	passkeys bool
	req      func() *http.Request
	// serve renders the page: nil is the handler's own routes (GET /login).
	serve func(h *Handler) http.HandlerFunc
}

func loginPageCases() []goldenCase {
	get := func(target string, hdr ...string) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, target, nil)
			for i := 0; i+1 < len(hdr); i += 2 {
				r.Header.Add(hdr[i], hdr[i+1])
			}
			r.AddCookie(&http.Cookie{Name: "__Host-" + csrfCookie, Value: goldenCSRF})
			return r
		}
	}
	post := func(target, form string, hdr ...string) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Sec-Fetch-Site", "same-origin")
			for i := 0; i+1 < len(hdr); i += 2 {
				r.Header.Add(hdr[i], hdr[i+1])
			}
			r.AddCookie(&http.Cookie{Name: "__Host-" + csrfCookie, Value: goldenCSRF})
			return r
		}
	}
	page := func(f func() *authFlow, p loginPage, status int) func(h *Handler) http.HandlerFunc {
		return func(h *Handler) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				var fl *authFlow
				if f != nil {
					fl = f()
				}
				h.renderLoginPage(w, r, fl, p, status)
			}
		}
	}
	return []goldenCase{
		{name: "login_en", req: get("/login", "Accept-Language", "en-GB,en;q=0.9")},
		{name: "login_de_passkeys", passkeys: true, req: get("/login?return=%2Fdevice%3Fuser_code%3DBCDF-GHJK", "Accept-Language", "de-CH, fr;q=0.5")},
		{name: "login_ru_new_browser", req: func() *http.Request {
			// No CSRF cookie yet: the page sets one (a random value, so it is not in the golden file).
			r := httptest.NewRequest(http.MethodGet, "/login?activated=1", nil)
			r.Header.Set("Accept-Language", "ru-RU,ru;q=0.9,en;q=0.8")
			return r
		}},
		{name: "login_de_flow_error", passkeys: true, req: post("/login", "authRequestID=ar-0123456789&email=ada%40example.com",
			"Accept-Language", "de"),
			serve: page(goldenFlow, loginPage{Email: `ada+"x"@example.com`, Error: "Die E-Mail-Adresse oder das Passwort ist falsch."}, http.StatusOK)},
		{name: "login_ru_flow_pending", req: get("/login?authRequestID=ar-0123456789&activated=1", "Accept-Language", "en", "Cookie", "myaccount_lang=ru"),
			serve: page(goldenFlow, loginPage{Email: "ada@example.com", Pending: true, Error: "Сначала активируйте учётную запись."}, http.StatusOK)},
		{name: "login_en_locked", req: post("/login", "email=a%40b.c&return=%2Faccount%2Fsecurity"),
			serve: page(nil, loginPage{Email: "a@b.c", Error: "Too many requests. Please try again later."}, http.StatusTooManyRequests)},
		{name: "error_de", req: get("/nowhere?a=<b>", "Accept-Language", "de")},
	}
}

// TestLoginPageGolden renders the sign-in page (and the not-found page), headers included,
// in each language and compares it byte for byte with what the code rendered before the
// rendering was made cheaper (testdata/golden, written with -update).
func TestLoginPageGolden(t *testing.T) {
	for _, tc := range loginPageCases() {
		t.Run(tc.name, func(t *testing.T) {
			golden.Check(t, filepath.Join("testdata", "golden", tc.name+".golden"), goldenRender(t, tc))
		})
	}
}

func goldenRender(tb testing.TB, tc goldenCase) string {
	tb.Helper()
	h := goldenHandler(tb, tc.passkeys)
	var route http.Handler
	if tc.serve != nil {
		route = tc.serve(h)
	} else {
		r := mux.NewRouter()
		h.Mount(r)
		route = r
	}
	w := httptest.NewRecorder()
	goldenServe(h, route).ServeHTTP(w, tc.req())
	body := w.Body.String()
	for _, c := range w.Result().Cookies() {
		if c.Name == h.cookieName(csrfCookie) { // a new random secret: its token is elided too
			body = strings.ReplaceAll(body, base64.RawURLEncoding.EncodeToString(h.mac("csrf", c.Value)), "…")
		}
	}
	return dumpResponse(w.Result().StatusCode, w.Header(), body)
}

// dumpResponse writes the status, the headers (a random cookie value elided) and the body.
func dumpResponse(status int, hdr http.Header, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d\n", status)
	keys := make([]string, 0, len(hdr))
	for k := range hdr {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range hdr[k] {
			if k == "Set-Cookie" {
				if name, rest, ok := strings.Cut(v, "="); ok {
					_, attrs, _ := strings.Cut(rest, ";")
					v = name + "=…;" + attrs
				}
			}
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	b.WriteString("\n")
	b.WriteString(body)
	return b.String()
}

// BenchmarkRenderLoginPage renders the sign-in page of an authorization request, with the
// middleware in front, as a browser without a session asks for it.
func BenchmarkRenderLoginPage(b *testing.B) {
	for _, lang := range []string{"en", "de"} {
		b.Run(lang, func(b *testing.B) {
			h := goldenHandler(b, true)
			srv := goldenServe(h, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h.renderLoginPage(w, r, goldenFlow(), loginPage{}, http.StatusOK)
			}))
			req := httptest.NewRequest(http.MethodGet, "/login?authRequestID=ar-0123456789", nil)
			req.Header.Set("Accept-Language", lang+";q=0.9, en;q=0.5")
			req.AddCookie(&http.Cookie{Name: "__Host-" + csrfCookie, Value: goldenCSRF})
			b.ReportAllocs()
			for b.Loop() {
				w := &discardWriter{h: http.Header{}}
				srv.ServeHTTP(w, req.WithContext(context.Background()))
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps only the status, as cheap as a benchmark's
// writer can be.
type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(s int)           { d.status = s }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
