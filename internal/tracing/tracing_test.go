package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/myaccount/myaccount/internal/tracing/tracingtest"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/sqlite"
)

func TestTracesURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://otel:4318":          "http://otel:4318/v1/traces",
		"http://otel:4318/":         "http://otel:4318/v1/traces",
		"https://x.example/otlp":    "https://x.example/otlp/v1/traces",
		"https://u:p@x.example/api": "https://u:p@x.example/api/v1/traces",
	} {
		if got, err := tracesURL(in); err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"otel:4318", "grpc://otel:4317", "http://", "http://otel:4318/?a=b"} {
		if _, err := tracesURL(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	if got := redact("https://user:secret@x.example/"); got != "https://redacted@x.example/" {
		t.Errorf("redact: %s", got)
	}
}

// TestOffWrapsNothing: a provider without an endpoint (and a nil one) hands back the store
// and handler it is given, so tracing off costs nothing.
func TestOffWrapsNothing(t *testing.T) {
	st := openStore(t)
	for _, p := range []*Provider{nil, mustNew(t, Config{})} {
		if p.Enabled() {
			t.Fatal("enabled without an endpoint")
		}
		if got := p.WrapStore(st, "sqlite"); got != st {
			t.Errorf("store wrapped: %T", got)
		}
		var saw trace.SpanContext
		h := p.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			saw = trace.SpanContextFromContext(r.Context())
		}), HTTPOptions{TrustParent: func(*http.Request) bool { return true }})
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		h.ServeHTTP(httptest.NewRecorder(), req)
		if saw.IsValid() {
			t.Errorf("span context in a request with tracing off: %v", saw)
		}
		if err := p.ForceFlush(context.Background()); err != nil {
			t.Error(err)
		}
		if err := p.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}
}

// TestStoreSpans: a store call is a client span under the caller's; a "not found" answer is
// an outcome, a failure is an error span that says only its kind.
func TestStoreSpans(t *testing.T) {
	rc := tracingtest.New(t)
	p := mustNew(t, Config{Endpoint: rc.URL(), SampleRatio: 1, ServiceName: "svc"})
	st := p.WrapStore(openStore(t), "sqlite")
	// Outside any trace: no span.
	if _, err := st.GetClient(context.Background(), "nobody"); err == nil {
		t.Fatal("GetClient of an unknown client succeeded")
	}
	ctx, parent := p.Tracer().Start(context.Background(), "parent")
	if _, err := st.GetClient(ctx, "nobody"); err == nil {
		t.Fatal("GetClient of an unknown client succeeded")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := st.GetClient(cctx, "nobody"); err == nil {
		t.Fatal("GetClient with a cancelled context succeeded")
	}
	parent.End()
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := rc.Spans()
	if len(spans) != 3 {
		t.Fatalf("spans: %+v", spans)
	}
	notFound, failed, root := spans[0], spans[1], spans[2]
	if root.Name != "parent" || root.Service != "svc" {
		t.Errorf("root %+v", root)
	}
	for _, s := range []tracingtest.Span{notFound, failed} {
		if s.Name != "store.GetClient" || s.ParentSpanID != root.SpanID || s.TraceID != root.TraceID ||
			s.Attributes["db.system.name"] != "sqlite" || s.Kind.String() != "SPAN_KIND_CLIENT" {
			t.Errorf("store span %+v", s)
		}
	}
	if notFound.StatusError || notFound.Attributes["myaccount.store.outcome"] != "not_found" {
		t.Errorf("not found: %+v", notFound)
	}
	if !failed.StatusError || failed.Attributes["error.type"] != "canceled" {
		t.Errorf("cancelled: %+v", failed)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestExportFailureIsLoggedNotFatal: a collector that refuses exports costs a log line, and
// the provider still shuts down.
func TestExportFailureIsLoggedNotFatal(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusBadRequest) // not retryable: fails at once
	}))
	defer down.Close()
	var logs syncLog
	p := mustNew(t, Config{Endpoint: down.URL, SampleRatio: 1, Logger: logs.logger()})
	_, s := p.Tracer().Start(context.Background(), "x")
	s.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.ForceFlush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if !logs.contains("trace export failed") {
		t.Errorf("no log line for the failed export: %s", logs.String())
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func mustNew(t *testing.T, cfg Config) *Provider {
	t.Helper()
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func openStore(t *testing.T) storage.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
