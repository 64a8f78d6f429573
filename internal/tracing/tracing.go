// Package tracing exports OpenTelemetry traces over OTLP/HTTP: a span per HTTP request (named
// by route template), per store call and per mail delivery, so a slow sign-in shows where its
// time went. It is off by default, and off means no tracer at all: nothing is wrapped, so the
// hot paths cost what they cost without it.
//
// Nothing here touches OpenTelemetry's globals (otel.SetTracerProvider, the global
// propagator or error handler): the [Provider] is passed to whoever traces, so two servers in
// one process (tests) trace apart.
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Scope is the instrumentation scope name of MyAccount's spans.
const Scope = "github.com/myaccount/myaccount"

// Config configures tracing.
type Config struct {
	// Endpoint is the base URL of an OTLP/HTTP receiver (a collector, Jaeger, Tempo…), e.g.
	// http://otel-collector:4318; spans go to its /v1/traces, as with
	// OTEL_EXPORTER_OTLP_ENDPOINT. Empty: tracing is off.
	Endpoint string
	// SampleRatio is the share of new traces recorded (0..1). A request that arrives with a
	// traceparent follows its parent's decision.
	SampleRatio float64
	// ServiceName is the service.name resource attribute.
	ServiceName string
	// ServiceVersion is service.version; empty: the module version from the build info.
	ServiceVersion string
	// Logger receives export failures (at most one line a minute).
	Logger *slog.Logger
	// BatchTimeout is how long spans wait to be sent together; zero: the SDK's 5 s.
	BatchTimeout time.Duration
}

// Provider hands out tracers. A nil *Provider, or one built with no endpoint, is off: its
// tracers are no-ops and Enabled reports false.
type Provider struct {
	tp  trace.TracerProvider
	sdk *sdktrace.TracerProvider
}

// TracesPath is where an OTLP/HTTP receiver takes trace exports.
const TracesPath = "/v1/traces"

// New builds the provider. With cfg.Endpoint empty it returns a provider that is off. The
// exporter connects lazily: an unreachable collector does not stop the server, it costs
// logged export failures.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.Endpoint == "" {
		return &Provider{tp: noop.NewTracerProvider()}, nil
	}
	endpoint, err := tracesURL(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if cfg.SampleRatio < 0 || cfg.SampleRatio > 1 {
		return nil, fmt.Errorf("tracing: sample ratio %v is outside 0..1", cfg.SampleRatio)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The exporter also honours the standard OTEL_EXPORTER_OTLP_HEADERS (and _TRACES_)
	// variables, e.g. for a collector's API key; the endpoint given here wins over theirs.
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	name := cfg.ServiceName
	if name == "" {
		name = "myaccount"
	}
	version := cfg.ServiceVersion
	if version == "" {
		version = moduleVersion()
	}
	var batch []sdktrace.BatchSpanProcessorOption
	if cfg.BatchTimeout > 0 {
		batch = append(batch, sdktrace.WithBatchTimeout(cfg.BatchTimeout))
	}
	sdk := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(&loggingExporter{SpanExporter: exp, log: log}, batch...),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
		// Schemaless: a resource of our own, not resource.Default(), whose schema URL can
		// clash with the SDK's and which reads OTEL_RESOURCE_ATTRIBUTES behind our back.
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", name),
			attribute.String("service.version", version),
		)),
	)
	log.Info("tracing on: exporting spans over OTLP/HTTP", "endpoint", redact(endpoint), "sample_ratio", cfg.SampleRatio)
	return &Provider{tp: sdk, sdk: sdk}, nil
}

// Enabled reports whether spans are recorded and exported.
func (p *Provider) Enabled() bool { return p != nil && p.sdk != nil }

// Tracer returns MyAccount's tracer (a no-op one when off).
func (p *Provider) Tracer() trace.Tracer {
	if p == nil {
		return noop.NewTracerProvider().Tracer(Scope)
	}
	return p.tp.Tracer(Scope)
}

// ForceFlush exports every span ended so far.
func (p *Provider) ForceFlush(ctx context.Context) error {
	if !p.Enabled() {
		return nil
	}
	return p.sdk.ForceFlush(ctx)
}

// Shutdown flushes and stops the exporter; spans ended afterwards are dropped.
func (p *Provider) Shutdown(ctx context.Context) error {
	if !p.Enabled() {
		return nil
	}
	return p.sdk.Shutdown(ctx)
}

// tracesURL turns the configured base URL into the traces endpoint.
func tracesURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("tracing: endpoint %q must be an http:// or https:// URL", redact(base))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("tracing: endpoint %q must not have a query or fragment", redact(base))
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + TracesPath
	u.RawPath = ""
	return u.String(), nil
}

// redact drops credentials from a URL before it is logged.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User("redacted")
	}
	return u.String()
}

func moduleVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}

// loggingExporter reports export failures to our log instead of returning them: the SDK
// would hand them to OpenTelemetry's global error handler (stderr, unstructured).
type loggingExporter struct {
	sdktrace.SpanExporter
	log    *slog.Logger
	logged atomic.Int64 // unix seconds of the last logged failure
}

func (e *loggingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err == nil {
		return nil
	}
	// A collector that is down fails every batch: one line a minute says so.
	now := time.Now().Unix()
	if last := e.logged.Load(); now-last >= 60 && e.logged.CompareAndSwap(last, now) {
		e.log.Warn("trace export failed; spans dropped", "spans", len(spans), "err", err)
	}
	return nil
}
