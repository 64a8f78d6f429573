package mail

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// TraceSender wraps s so that every delivery (for SMTPSender: the whole SMTP conversation)
// is a client span "mail.send". The outbox worker calls it outside any request, so the span
// is the root of its own trace. Neither recipient nor subject is recorded: traces leave the
// host, mail addresses must not. A nil tracer returns s unchanged (tracing off).
func TraceSender(s Sender, tracer trace.Tracer) Sender {
	if tracer == nil {
		return s
	}
	attrs := []attribute.KeyValue{attribute.String("mail.transport", "log")}
	if smtp, ok := s.(*SMTPSender); ok {
		attrs = []attribute.KeyValue{attribute.String("mail.transport", "smtp"), attribute.String("server.address", smtp.Addr())}
	}
	return tracedSender{next: s, tracer: tracer, attrs: attrs}
}

type tracedSender struct {
	next   Sender
	tracer trace.Tracer
	attrs  []attribute.KeyValue
}

func (t tracedSender) Send(ctx context.Context, m Message) error {
	ctx, span := t.tracer.Start(ctx, "mail.send", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(t.attrs...))
	defer span.End()
	err := t.next.Send(ctx, m)
	if err != nil {
		// The error text of a relay can quote the recipient: the kind of failure is in the log.
		span.SetStatus(codes.Error, "mail delivery failed")
	}
	return err
}

// TraceTask wraps an outbox task so that each run is a span "mail.task KIND"; the store calls
// it makes (through a traced store) become its children. A nil tracer returns task unchanged.
func TraceTask(kind string, task Task, tracer trace.Tracer) Task {
	if tracer == nil {
		return task
	}
	return func(ctx context.Context, payload []byte) error {
		ctx, span := tracer.Start(ctx, "mail.task "+kind, trace.WithAttributes(attribute.String("mail.task", kind)))
		defer span.End()
		err := task(ctx, payload)
		if err != nil {
			span.SetStatus(codes.Error, "task failed")
		}
		return err
	}
}
