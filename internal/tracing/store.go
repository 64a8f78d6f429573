package tracing

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/wrap"
)

// WrapStore gives every call of st made under a recording span (a traced request, a mail
// task) a client span "store.METHOD" beneath it, with db.system.name set to system ("sqlite",
// "postgresql"). Calls outside any trace (job leases, probes, the CLI) make none: a lone
// store span would be a trace of its own saying little. With the provider off it returns st
// itself: no wrapper, no cost.
//
// Failures are marked as errors by kind only (deadline, cancelled, failure): a driver's
// message can quote row values (an email in a constraint violation), and the guard already
// logs the cause under the same trace id. Answers about the data (not found, conflict,
// already used, expired, revoked) are outcomes, not errors.
func (p *Provider) WrapStore(st storage.Store, system string) storage.Store {
	if !p.Enabled() {
		return st
	}
	tracer := p.Tracer()
	sys := attribute.String("db.system.name", system)
	return wrap.New(st, func(ctx context.Context, method string, next func(context.Context) error) error {
		// Under a sampled request's span, whether or not the span in ctx records: zitadel/oidc
		// starts its own spans from OpenTelemetry's global provider, which we do not set (no
		// global state), so inside the library's handlers ctx holds a non-recording span
		// that carries our server span's context. Its store calls belong to that trace.
		if sc := trace.SpanContextFromContext(ctx); !sc.IsValid() || !sc.IsSampled() {
			return next(ctx)
		}
		ctx, span := tracer.Start(ctx, "store."+method, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(sys, attribute.String("db.operation.name", method)))
		defer span.End()
		err := next(ctx)
		if err != nil {
			if o := outcome(err); o != "" {
				span.SetAttributes(attribute.String("myaccount.store.outcome", o))
			} else {
				kind := "failure"
				switch {
				case errors.Is(err, context.DeadlineExceeded):
					kind = "deadline_exceeded"
				case errors.Is(err, context.Canceled):
					kind = "canceled"
				}
				span.SetAttributes(attribute.String("error.type", kind))
				span.SetStatus(codes.Error, "database call "+kind)
			}
		}
		return err
	})
}

func outcome(err error) string {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return "not_found"
	case errors.Is(err, storage.ErrConflict):
		return "conflict"
	case errors.Is(err, storage.ErrAlreadyUsed):
		return "already_used"
	case errors.Is(err, storage.ErrExpired):
		return "expired"
	case errors.Is(err, storage.ErrRevoked):
		return "revoked"
	}
	var ce *wrap.CallbackError
	if errors.As(err, &ce) {
		return "callback_error" // the transaction's caller decided; its own spans say why
	}
	return ""
}
