package tracing

import (
	"log/slog"
	"strings"

	"github.com/myaccount/myaccount/internal/syncbuf"
)

// syncLog is a log the exporter's goroutines write while the test reads it.
type syncLog struct{ syncbuf.Buffer }

func (s *syncLog) contains(sub string) bool { return strings.Contains(s.String(), sub) }

func (s *syncLog) logger() *slog.Logger { return slog.New(slog.NewTextHandler(s, nil)) }
