package mail_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/mail/mailtest"
)

// TestTraceSenderSpansTheSMTPConversation: a delivery through a traced SMTP sender is one
// client span naming the relay, ended after the message reached it, without the recipient;
// a refused delivery is an error span; a nil tracer leaves the sender as it was.
func TestTraceSenderSpansTheSMTPConversation(t *testing.T) {
	srv := mailtest.NewServer(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	inner := newSender(t, srv, mail.StartTLSNone)
	s := mail.TraceSender(inner, tp.Tracer("test"))
	msg := mail.Message{To: "ada@example.com", Subject: "Hello", Text: "hi"}
	if err := s.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	srv.WaitFor(t, "ada@example.com", 5*time.Second)
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Name() != "mail.send" || spans[0].Status().Code == codes.Error {
		t.Fatalf("spans: %v", spans)
	}
	attrs := map[string]string{}
	for _, a := range spans[0].Attributes() {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	if attrs["mail.transport"] != "smtp" || attrs["server.address"] != inner.Addr() {
		t.Errorf("attributes %v", attrs)
	}
	for k, v := range attrs {
		if strings.Contains(v, "ada@") || strings.Contains(v, "Hello") {
			t.Errorf("attribute %s leaks the message: %q", k, v)
		}
	}

	srv.Refuse(true)
	if err := s.Send(context.Background(), msg); err == nil {
		t.Fatal("refused delivery succeeded")
	}
	if spans := rec.Ended(); len(spans) != 2 || spans[1].Status().Code != codes.Error {
		t.Errorf("refused delivery: spans %v", spans)
	}

	if got := mail.TraceSender(inner, nil); got != mail.Sender(inner) {
		t.Errorf("nil tracer wrapped the sender: %T", got)
	}

	failed := errors.New("boom")
	task := mail.TraceTask("reset", func(ctx context.Context, _ []byte) error { return failed }, tp.Tracer("test"))
	if err := task(context.Background(), nil); !errors.Is(err, failed) {
		t.Fatalf("task error %v", err)
	}
	if spans := rec.Ended(); len(spans) != 3 || spans[2].Name() != "mail.task reset" || spans[2].Status().Code != codes.Error {
		t.Errorf("task span: %v", spans)
	}
}
