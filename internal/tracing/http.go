package tracing

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/myaccount/myaccount/internal/statusrec"
)

// HTTPOptions configures the server middleware.
type HTTPOptions struct {
	// Route names a request by its route template (a bounded set: never the raw path, which
	// can carry ids). The span is named "METHOD route".
	Route func(*http.Request) string
	// TrustParent reports whether the request's traceparent may be followed (the peer is one
	// of our proxies). Anyone else's is ignored, as for X-Request-ID: a client must not choose
	// our sampling (traceparent's sampled flag) or splice our spans into its traces. nil
	// trusts nobody.
	TrustParent func(*http.Request) bool
	// Attributes adds attributes known before the handler runs (e.g. the request id).
	Attributes func(*http.Request) []attribute.KeyValue
	// Skip leaves a request untraced (health probes: a trace every few seconds per probe
	// would drown the real ones).
	Skip func(*http.Request) bool
}

// Middleware starts a server span per request. With the provider off it returns next as is.
func (p *Provider) Middleware(next http.Handler, o HTTPOptions) http.Handler {
	if !p.Enabled() {
		return next
	}
	tracer := p.Tracer()
	prop := propagation.TraceContext{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.Skip != nil && o.Skip(r) {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		if o.TrustParent != nil && r.Header.Get("traceparent") != "" && o.TrustParent(r) {
			ctx = prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
		}
		route := "other"
		if o.Route != nil {
			route = o.Route(r)
		}
		attrs := []attribute.KeyValue{
			attribute.String("http.request.method", r.Method),
			attribute.String("http.route", route),
		}
		if o.Attributes != nil {
			attrs = append(attrs, o.Attributes(r)...)
		}
		ctx, span := tracer.Start(ctx, r.Method+" "+route,
			trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
		defer span.End()
		sw := statusrec.New(w)
		next.ServeHTTP(sw, r.WithContext(ctx))
		code := sw.Code()
		span.SetAttributes(attribute.Int("http.response.status_code", code))
		// Server spans are errors for 5xx only: a 4xx is the client's (OTel's HTTP rules).
		if code >= 500 {
			span.SetStatus(codes.Error, http.StatusText(code))
		}
	})
}
