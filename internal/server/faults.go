package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/fault"
)

// Fixed answers for our own failures. error_description never carries internal text (a driver
// message names hosts, users and files): these sentences are the only ones a client sees for a
// failure of ours, and README documents them.
const (
	descUnavailable = "The service is temporarily unavailable. Please retry shortly."
	descServerError = "The server could not complete the request."
	// retryAfter is the Retry-After (seconds) sent with every 503: long enough for a
	// restarted database or a drained hash queue, short enough not to strand a sign-in.
	retryAfter = "5"
)

// apiPaths answer in JSON (RFC 6749 §5.2 shape); every other path answers with a page.
var apiPaths = map[string]bool{
	"/oauth/token": true, "/oauth/introspect": true, "/revoke": true, "/userinfo": true,
	"/device_authorization": true, "/par": true, "/keys": true, "/.well-known/openid-configuration": true,
}

// faultAnswers is the one place that decides how a failure of ours reaches a client. Each
// request carries a fault.Recorder; the store guard and the password-hash limiter record
// failures in it. When the response a handler (ours or the library's) starts to write is an
// error and a failure was recorded, it is replaced: OAuth endpoints answer 503
// temporarily_unavailable with Retry-After, pages answer the 503 "try again" page, and an
// authorization error redirect carries error=temporarily_unavailable. Whatever a library made
// of the failure on its way up (invalid_grant, invalid_client, "unknown application", 403), the
// client never hears that it is at fault. A 5xx without a recorded failure keeps its status
// but its description is replaced by a fixed one.
//
// A page's script that asks for JSON (Accept: application/json) gets script's answer
// instead of the page: the same sentence, which it can read and show.
func faultAnswers(next http.Handler, page, script func(http.ResponseWriter, *http.Request), log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, rec := fault.NewContext(r.Context())
		r = r.WithContext(ctx)
		fw := &faultWriter{ResponseWriter: w, r: r, rec: rec, page: page, script: script, log: log, base: w.Header().Clone()}
		next.ServeHTTP(fw, r)
	})
}

type faultWriter struct {
	http.ResponseWriter
	r      *http.Request
	rec    *fault.Recorder
	page   func(http.ResponseWriter, *http.Request)
	script func(http.ResponseWriter, *http.Request)
	log    *slog.Logger
	// base is the header set before the handler ran (security headers): kept when the
	// handler's own response is replaced.
	base        http.Header
	wroteHeader bool
	replaced    bool
	// relocated: the Location of an error redirect was rewritten; the handler's body
	// (http.Redirect's link to the old Location, with its description) is dropped.
	relocated bool
}

func (w *faultWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *faultWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced || w.relocated {
		return len(b), nil // the handler's body belongs to the response we replaced
	}
	return w.ResponseWriter.Write(b)
}

func (w *faultWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.replaced && !w.relocated {
		f.Flush()
	}
}

func (w *faultWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	failed := w.rec.Err() != nil
	api := apiPaths[w.r.URL.Path] || isAdminAPI(w.r.URL.Path) || isRegistrationAPI(w.r.URL.Path) || isLicenceAPI(w.r.URL.Path)
	if (code >= 400 && failed) || code >= 500 {
		w.undo()
	}
	switch {
	case (code == http.StatusFound || code == http.StatusSeeOther) && w.errorRedirect(failed):
		// Location rewritten in place; the redirect itself stands.
	case code >= 400 && failed:
		w.log.WarnContext(w.r.Context(), "answered 503: a dependency failed", "path", w.r.URL.Path,
			"status_before", code, "cause", w.rec.Err())
		w.replace(http.StatusServiceUnavailable, api)
		return
	case code >= 500 && api:
		w.replace(code, true)
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// undo gives back what the request used up before it failed on our side (fault.OnFailure),
// before the client hears of the failure and retries. It runs on a context of its own: the
// request's may be cancelled, and the answer waits at most undoTimeout for it.
func (w *faultWriter) undo() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.r.Context()), undoTimeout)
	defer cancel()
	if err := w.rec.Undo(ctx); err != nil {
		w.log.ErrorContext(ctx, "giving back what a failed request used up", "path", w.r.URL.Path, "err", err)
	}
}

// undoTimeout bounds fault.Recorder.Undo: a store still failing must not hold the answer.
const undoTimeout = 2 * time.Second

// replace discards the handler's response and writes ours. Its headers go too, Set-Cookie
// included: right for a request whose writes rolled back, so a handler that commits and then
// sets a cookie must set it only once nothing after it can fail (a consent's browser binding).
func (w *faultWriter) replace(status int, api bool) {
	w.replaced = true
	h := w.ResponseWriter.Header()
	for k := range h {
		if _, keep := w.base[k]; !keep {
			delete(h, k)
		}
	}
	for k, v := range w.base {
		h[k] = v
	}
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", retryAfter)
	}
	if isAdminAPI(w.r.URL.Path) {
		adminFailure(w.ResponseWriter, status)
		return
	}
	if !api {
		// The page writes through the underlying writer: our own answer is not intercepted.
		if status == http.StatusServiceUnavailable {
			if strings.Contains(w.r.Header.Get("Accept"), "application/json") {
				w.script(w.ResponseWriter, w.r)
				return
			}
			w.page(w.ResponseWriter, w.r)
			return
		}
		http.Error(w.ResponseWriter, "Internal error", status)
		return
	}
	code, desc := "server_error", descServerError
	if status == http.StatusServiceUnavailable {
		code, desc = "temporarily_unavailable", descUnavailable
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.ResponseWriter.WriteHeader(status)
	_ = json.NewEncoder(w.ResponseWriter).Encode(map[string]string{"error": code, "error_description": desc})
}

// errorRedirect rewrites an OAuth error redirect (error=… in the query) that stems from our
// failure, or that reports server_error, to carry a fixed code and description. It reports
// whether the Location was an error redirect.
func (w *faultWriter) errorRedirect(failed bool) bool {
	h := w.ResponseWriter.Header()
	u, err := url.Parse(h.Get("Location"))
	if err != nil {
		return false
	}
	// The error is in the query, or in the fragment (response_mode=fragment).
	q, inFragment := u.Query(), false
	if q.Get("error") == "" {
		f, err := url.ParseQuery(u.Fragment)
		if err != nil || f.Get("error") == "" {
			return false
		}
		q, inFragment = f, true
	}
	switch {
	case failed:
		w.undo()
		q.Set("error", "temporarily_unavailable")
		q.Set("error_description", descUnavailable)
	case q.Get("error") == "server_error":
		q.Set("error_description", descServerError)
	default:
		return true
	}
	// The body a redirect carries repeats the old Location: it goes with it.
	w.relocated = true
	h.Del("Content-Length")
	if inFragment {
		// Written as encoded: url.URL would escape the fragment's own escapes again.
		u.Fragment, u.RawFragment = "", ""
		h.Set("Location", u.String()+"#"+q.Encode())
		return true
	}
	u.RawQuery = q.Encode()
	h.Set("Location", u.String())
	return true
}
