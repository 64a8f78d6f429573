package requestid

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRequestIDTrustedProxyOnly: an incoming X-Request-ID is kept only from a trusted peer
// and only when it is plain; the id is in the context, the response and the log.
func TestRequestIDTrustedProxyOnly(t *testing.T) {
	var buf bytes.Buffer
	log := Logger(slog.New(slog.NewTextHandler(&buf, nil))).With("component", "test")
	var seen string
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = From(r.Context())
		log.InfoContext(r.Context(), "hello")
	}), func(r *http.Request) bool { return r.RemoteAddr == "10.0.0.1:1234" })
	for _, c := range []struct {
		peer, in string
		keep     bool
	}{
		{"10.0.0.1:1234", "abc-123", true},
		{"192.0.2.9:1234", "abc-123", false},
		{"10.0.0.1:1234", "bad\nid", false},
		{"10.0.0.1:1234", strings.Repeat("a", 200), false},
	} {
		buf.Reset()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = c.peer
		req.Header.Set(Header, c.in)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get(Header)
		if got == "" || got != seen || (got == c.in) != c.keep {
			t.Errorf("peer %s, incoming %q: id %q (context %q), keep=%v", c.peer, c.in, got, seen, c.keep)
		}
		if !strings.Contains(buf.String(), "request_id="+got) {
			t.Errorf("log line lacks the id: %s", buf.String())
		}
	}
}
