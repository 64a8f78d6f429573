package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/server"
	"github.com/myaccount/myaccount/internal/syncbuf"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
)

// scrape fetches /metrics from addr and parses the text format.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value is the counter (or gauge) value of the series of name with all of labels; the
// histogram's sample count for a histogram.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	var sum float64
next:
	for _, m := range f.Metric {
		for k, v := range labels {
			found := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// TestMetricsScrapedAfterSignInAndToken scrapes the metrics listener (its own address, not
// the public one) around a scripted password sign-in with a code exchange and a
// client_credentials token, and checks that the counters moved.
func TestMetricsScrapedAfterSignInAndToken(t *testing.T) {
	// The production cost: the hash's CPU is asserted below.
	e := newEnvWith(t, envOptions{productionHashCost: true, configure: func(c *config.Config) { c.Metrics.Listen = "127.0.0.1:0" }})
	addr, stop, err := e.srv.StartMetrics()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if addr == "" || strings.HasSuffix(e.addr, addr) {
		t.Fatalf("metrics address %q: want a listener of its own", addr)
	}
	// The public listener does not serve the metrics.
	if resp, err := http.Get(e.addr + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("/metrics is served on the public listener")
		}
	}
	before := scrape(t, addr)

	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential)
	e.tokens(context.Background(), e.browser(), c, "ada@example.com")
	cc := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	if st, _, body := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, cc.ID, cc.Secret); st != http.StatusOK {
		t.Fatalf("client_credentials: %d %s", st, body)
	}

	// The admin API's requests are labelled by its own routes, never by the raw id.
	if resp, err := http.Get(e.addr + "/admin/api/v1/clients/ada-client-id"); err == nil {
		resp.Body.Close()
	} else {
		t.Fatal(err)
	}

	after := scrape(t, addr)
	delta := func(name string, labels map[string]string) float64 {
		return value(after, name, labels) - value(before, name, labels)
	}
	if d := delta("myaccount_signins_total", map[string]string{"method": "password", "result": "ok"}); d != 1 {
		t.Errorf("sign-ins ok moved by %v, want 1", d)
	}
	if d := delta("myaccount_tokens_issued_total", map[string]string{"grant": "client_credentials"}); d != 1 {
		t.Errorf("client_credentials tokens moved by %v, want 1", d)
	}
	if d := delta("myaccount_tokens_issued_total", map[string]string{"grant": "authorization_code"}); d != 1 {
		t.Errorf("authorization_code tokens moved by %v, want 1", d)
	}
	if d := delta("myaccount_http_request_duration_seconds", map[string]string{"route": "/oauth/token"}); d < 2 {
		t.Errorf("token route latency samples moved by %v, want ≥ 2", d)
	}
	if d := delta("myaccount_http_requests_total", map[string]string{"route": "/oauth/token", "method": "POST", "code": "200"}); d < 2 {
		t.Errorf("token route 200s moved by %v, want ≥ 2", d)
	}
	if d := delta("myaccount_http_requests_total", map[string]string{"route": "/admin/api/v1/clients/{id}", "method": "GET"}); d != 1 {
		t.Errorf("admin client route requests moved by %v, want 1 (labelled by the admin API's route)", d)
	}
	// One password verification, and its CPU: an argon2id hash at the defaults is
	// milliseconds, never nothing, and never more than the wall time its slot was held.
	if d := delta("myaccount_password_hashes_total", nil); d != 1 {
		t.Errorf("password hashes moved by %v, want 1", d)
	}
	if cpu, wall := delta("myaccount_password_hash_cpu_seconds_total", nil), delta("myaccount_password_hash_seconds_total", nil); cpu < 0.002 || cpu > wall+0.001 {
		t.Errorf("hash CPU moved by %vs, wall by %vs: want a hash's milliseconds, within the wall time", cpu, wall)
	}
	for _, name := range []string{"go_sql_open_connections", "myaccount_password_hashes_waiting", "myaccount_mail_outbox_pending",
		"myaccount_sqlite_wal_bytes", "myaccount_sqlite_checkpoints_total", "myaccount_sqlite_wal_rewinds_total"} {
		if after[name] == nil {
			t.Errorf("%s is not exported", name)
		}
	}
	// The sign-in and the tokens were written to the WAL (a checkpoint copies it, but only
	// a commit after a rewind empties it).
	if b := value(after, "myaccount_sqlite_wal_bytes", nil); b <= 0 {
		t.Errorf("myaccount_sqlite_wal_bytes = %v after a sign-in, want the WAL's size", b)
	}
	// Labels are route templates, never raw paths.
	for _, m := range after["myaccount_http_requests_total"].GetMetric() {
		for _, l := range m.Label {
			if l.GetName() == "route" && strings.Contains(l.GetValue(), "ada") {
				t.Errorf("raw path in a route label: %q", l.GetValue())
			}
		}
	}
}

// TestMetricsOffByDefault: without metrics.listen nothing listens.
func TestMetricsOffByDefault(t *testing.T) {
	e := newEnv(t)
	if e.cfg.Metrics.Listen != "" {
		t.Fatalf("metrics.listen defaults to %q", e.cfg.Metrics.Listen)
	}
	addr, stop, err := e.srv.StartMetrics()
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if addr != "" {
		t.Fatalf("a metrics listener started on %s", addr)
	}
}

// TestRequestIDInHeaderLogAndErrorPage: a request's id is in the response header, on the
// error page ("Reference: …") and in the log lines of that request; a client's own
// X-Request-ID is not believed (no trusted proxy is configured).
func TestRequestIDInHeaderLogAndErrorPage(t *testing.T) {
	cfg, err := config.Load("", func(k string) string {
		return map[string]string{"MYACCOUNT_DATA_DIR": t.TempDir()}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var fs *faultstore.Store
	srv, err := server.New(context.Background(), cfg, log, server.Options{WrapStore: func(s storage.Store) storage.Store {
		fs = faultstore.New(s)
		return fs
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	// An authorization request for an unknown client ends on the error page, and is logged.
	req := httptest.NewRequest(http.MethodGet, "/authorize?client_id=nope&response_type=code&scope=openid&redirect_uri=https%3A%2F%2Fx.example%2Fcb", nil)
	req.Header.Set("X-Request-ID", "planted-by-client")
	rec := httptest.NewRecorder()
	srv.Handler.ServeHTTP(rec, req)
	id := rec.Header().Get("X-Request-ID")
	if id == "" || id == "planted-by-client" {
		t.Fatalf("X-Request-ID = %q: want a fresh id", id)
	}
	body, _ := io.ReadAll(rec.Body)
	if rec.Code < 400 || !strings.Contains(string(body), "Reference: "+id) {
		t.Fatalf("error page (%d) lacks \"Reference: %s\":\n%s", rec.Code, id, body)
	}
	// A failing database: the 503 page carries the reference too, and so does the line
	// that logs the failure.
	fs.Fail("GetClient")
	rec = httptest.NewRecorder()
	srv.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/authorize?client_id=nope&response_type=code&scope=openid&redirect_uri=https%3A%2F%2Fx.example%2Fcb", nil))
	id = rec.Header().Get("X-Request-ID")
	body, _ = io.ReadAll(rec.Body)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(string(body), "Reference: "+id) {
		t.Fatalf("503 page (%d) lacks \"Reference: %s\":\n%s", rec.Code, id, body)
	}
	if !strings.Contains(logs.String(), "request_id="+id) {
		t.Fatalf("no log line carries request_id=%s:\n%s", id, logs.String())
	}
}
