package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/requestid"
	"github.com/myaccount/myaccount/internal/tracing"
	"github.com/myaccount/myaccount/storage"
)

// newTracing builds the tracer provider from tracing.*; with no endpoint it is off and every
// helper below returns what it was given.
func newTracing(ctx context.Context, cfg *config.Config, log *slog.Logger) (*tracing.Provider, error) {
	return tracing.New(ctx, tracing.Config{
		Endpoint:    cfg.Tracing.OTLPEndpoint,
		SampleRatio: cfg.Tracing.SampleRatio,
		ServiceName: cfg.Tracing.ServiceName,
		Logger:      log,
	})
}

// traceStore gives every store call of a request a span under the request's.
func traceStore(tp *tracing.Provider, cfg *config.Config, st storage.Store) storage.Store {
	system := "sqlite"
	if cfg.DatabaseDriver() == config.DriverPostgres {
		system = "postgresql"
	}
	return tp.WrapStore(st, system)
}

// traceHTTP starts a server span per request, named by route template. It sits inside the
// request-id middleware (so the span carries the id support quotes) and outside everything
// else (so the span covers the whole answer).
func traceHTTP(tp *tracing.Provider, next http.Handler, route func(*http.Request) string, trusted func(*http.Request) bool) http.Handler {
	return tp.Middleware(next, tracing.HTTPOptions{
		Route:       route,
		TrustParent: trusted,
		Attributes: func(r *http.Request) []attribute.KeyValue {
			return []attribute.KeyValue{attribute.String("myaccount.request_id", requestid.From(r.Context()))}
		},
		Skip: func(r *http.Request) bool {
			switch r.URL.Path {
			case "/healthz", "/readyz", "/ready":
				return true
			}
			return false
		},
	})
}

// traceMail spans each delivery and each outbox task.
func traceMail(tp *tracing.Provider, s mail.Sender) mail.Sender {
	return mail.TraceSender(s, tracerOrNil(tp))
}

func traceTask(tp *tracing.Provider, kind string, t mail.Task) mail.Task {
	return mail.TraceTask(kind, t, tracerOrNil(tp))
}

func tracerOrNil(tp *tracing.Provider) trace.Tracer {
	if !tp.Enabled() {
		return nil
	}
	return tp.Tracer()
}

// jobSpan makes one run of a periodic job a trace of its own ("job NAME"), so its store calls
// have a parent; end ends it. With tracing off the context is returned as is.
func (s *Server) jobSpan(ctx context.Context, name string) (context.Context, func()) {
	if !s.Tracing.Enabled() {
		return ctx, func() {}
	}
	ctx, span := s.Tracing.Tracer().Start(ctx, "job "+name, trace.WithAttributes(attribute.String("myaccount.job", name)))
	return ctx, func() { span.End() }
}

// stopTracing exports what is left; a collector that is away costs at most a few seconds
// of the shutdown.
func (s *Server) stopTracing() {
	if !s.Tracing.Enabled() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Tracing.Shutdown(ctx); err != nil {
		s.log.Warn("tracing: final export", "err", err)
	}
}
