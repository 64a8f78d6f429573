package mail

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestLogSenderLogsTheLink(t *testing.T) {
	r := newTestRenderer(t)
	link := "https://id.example.com/activate?token=Zm9vYmFy&lang=ru"
	m, err := r.Render(Activation, "ru", Data{Link: link})
	if err != nil {
		t.Fatal(err)
	}
	m.To = "ada@example.com"

	var buf bytes.Buffer
	s := LogSender{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	out := buf.String()
	for _, want := range []string{link, "ada@example.com", "Активируйте аккаунт MyAccount"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestLogSenderHonoursCancelledContext(t *testing.T) {
	var buf bytes.Buffer
	s := LogSender{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Send(ctx, Message{To: "a@example.com", Text: "x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if buf.Len() != 0 {
		t.Errorf("logged despite cancellation: %s", buf.String())
	}
}

func TestLogSenderNilLoggerUsesDefault(t *testing.T) {
	// Must not panic; slog.Default writes to the standard logger.
	if err := (LogSender{}).Send(context.Background(), Message{To: "a@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
}
