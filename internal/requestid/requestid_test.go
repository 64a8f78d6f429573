package requestid

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
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

// TestLogCarriesTraceID: a record logged under a sampled span names its trace; an unsampled
// span's id is left out (no trace was exported for it), and so is a context without a span.
func TestLogCarriesTraceID(t *testing.T) {
	var buf bytes.Buffer
	log := Logger(slog.New(slog.NewTextHandler(&buf, nil)))
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	for _, c := range []struct {
		flags trace.TraceFlags
		want  bool
	}{{trace.FlagsSampled, true}, {0, false}} {
		buf.Reset()
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: c.flags})
		ctx := trace.ContextWithSpanContext(NewContext(context.Background(), "req-1"), sc)
		log.InfoContext(ctx, "hello")
		got := buf.String()
		if strings.Contains(got, "trace_id="+tid.String()) != c.want || !strings.Contains(got, "request_id=req-1") {
			t.Errorf("flags %v: %s", c.flags, got)
		}
	}
	buf.Reset()
	log.InfoContext(context.Background(), "plain")
	if strings.Contains(buf.String(), "trace_id") || strings.Contains(buf.String(), "request_id") {
		t.Errorf("no request: %s", buf.String())
	}
}
