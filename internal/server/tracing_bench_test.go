package server_test

import (
	"net/url"
	"testing"

	"github.com/myaccount/myaccount/internal/tracing/tracingtest"
	"github.com/myaccount/myaccount/storage"
)

// BenchmarkTokenTracing is the hot token path (client_credentials, JWT access token, SQLite)
// with tracing off (no endpoint: nothing wrapped) and on (every request sampled, spans for
// HTTP and each store call exported to an in-test OTLP/HTTP receiver). Compare the two ns/op
// of one run:
//
//	go test -run '^$' -bench BenchmarkTokenTracing -benchtime 3s ./internal/server/
func BenchmarkTokenTracing(b *testing.B) {
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			endpoint := ""
			if mode == "on" {
				endpoint = tracingtest.New(b).URL()
			}
			e := newTracedEnv(b, endpoint, nil, &syncBuffer{})
			c := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
			b.ResetTimer()
			benchPost(b, e, c, func() url.Values { return url.Values{"grant_type": {"client_credentials"}} }, func(st int, body string) {
				if st != 200 {
					b.Fatalf("%d %s", st, body)
				}
			})
		})
	}
}
