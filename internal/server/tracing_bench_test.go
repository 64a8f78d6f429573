package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/syncbuf"
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
				endpoint = discardCollector(b)
			}
			e := newTracedEnv(b, endpoint, nil, &syncbuf.Buffer{})
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

// BenchmarkTokenTracingRatio alternates the same token request between a server with tracing
// off and one with tracing on (every request sampled and exported), so that both see the same
// machine load, and reports each one's time per request and their ratio ("on/off"):
//
//	go test -run '^$' -bench BenchmarkTokenTracingRatio -benchtime 2000x ./internal/server/
func BenchmarkTokenTracingRatio(b *testing.B) {
	type side struct {
		e    *testEnv
		c    *testClient
		took time.Duration
	}
	off := &side{e: newTracedEnv(b, "", nil, &syncbuf.Buffer{})}
	on := &side{e: newTracedEnv(b, discardCollector(b), nil, &syncbuf.Buffer{})}
	hc := &http.Client{}
	form := url.Values{"grant_type": {"client_credentials"}}.Encode()
	post := func(s *side) {
		req, _ := http.NewRequest(http.MethodPost, s.e.addr+"/oauth/token", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(s.c.ID, s.c.Secret)
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		s.took += time.Since(start)
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	for _, s := range []*side{off, on} {
		s.c = s.e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
		post(s) // warm up connections and caches
		s.took = 0
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// Alternate which goes first, so neither always follows the other.
		if i%2 == 0 {
			post(off)
			post(on)
		} else {
			post(on)
			post(off)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(off.took.Nanoseconds())/n, "off-ns/req")
	b.ReportMetric(float64(on.took.Nanoseconds())/n, "on-ns/req")
	b.ReportMetric(float64(on.took)/float64(off.took), "on/off")
}

// discardCollector is an OTLP/HTTP endpoint that reads and drops what it is sent: decoding
// the spans here (as tracingtest does) would bill the collector's work to the server on this
// one machine.
func discardCollector(b *testing.B) string {
	c := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	b.Cleanup(c.Close)
	return c.URL
}
