// Package requestid gives every request an id: carried in its context, added to each log
// line written with that context, and returned in X-Request-ID so support can find the
// request's log lines from what a person reports.
package requestid

import (
	"context"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/trace"

	"github.com/myaccount/myaccount/internal/secret"
)

// Header is the request and response header carrying the id.
const Header = "X-Request-ID"

type ctxKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the request id in ctx, or "".
func From(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// Middleware assigns the id: the incoming X-Request-ID when trusted(r) says the peer is one
// of our proxies and the value is plain, otherwise a fresh random one. Anyone else's header
// is ignored: a client must not plant ids (or log-forging text) in our logs.
func Middleware(next http.Handler, trusted func(*http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(Header)
		if id == "" || !valid(id) || trusted == nil || !trusted(r) {
			id = secret.NewID()
		}
		w.Header().Set(Header, id)
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), id)))
	})
}

// valid accepts up to 128 characters of [A-Za-z0-9._:-], which covers UUIDs and the ids
// common proxies generate.
func valid(s string) bool {
	if len(s) > 128 {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// Handler wraps a slog.Handler so that records logged with a request's context carry
// request_id, and trace_id when the request is traced (sampled: an id no trace was exported
// for would send support looking for nothing).
type Handler struct{ slog.Handler }

// Logger returns log with its handler wrapped (once: an already wrapped logger is returned
// as is).
func Logger(log *slog.Logger) *slog.Logger {
	if _, ok := log.Handler().(Handler); ok {
		return log
	}
	return slog.New(Handler{log.Handler()})
}

// Handle adds the request id and trace id of ctx, if any.
func (h Handler) Handle(ctx context.Context, r slog.Record) error {
	id := From(ctx)
	sc := trace.SpanContextFromContext(ctx)
	traced := sc.IsSampled()
	if id != "" || traced {
		r = r.Clone()
	}
	if id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	if traced {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the wrapper around the derived handler.
func (h Handler) WithAttrs(as []slog.Attr) slog.Handler { return Handler{h.Handler.WithAttrs(as)} }

// WithGroup keeps the wrapper around the derived handler.
func (h Handler) WithGroup(name string) slog.Handler { return Handler{h.Handler.WithGroup(name)} }
