package server_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/server"
	"github.com/myaccount/myaccount/internal/syncbuf"
	"github.com/myaccount/myaccount/internal/tracing/tracingtest"
	"github.com/myaccount/myaccount/storage"
)

// newTracedEnv is newEnv with tracing.* set and the log kept, so a test can read what the
// server logged next to what it exported. endpoint "" leaves tracing off.
func newTracedEnv(t testing.TB, endpoint string, trusted []string, logw *syncbuf.Buffer) *testEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	vars := map[string]string{"MYACCOUNT_ISSUER": issuer, "MYACCOUNT_DATA_DIR": t.TempDir(),
		"MYACCOUNT_TRACING_OTLP_ENDPOINT": endpoint, "MYACCOUNT_TRUSTED_PROXIES": strings.Join(trusted, ",")}
	cfg, err := config.Load("", func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	log := slog.New(slog.NewTextHandler(logw, nil))
	srv, err := server.New(context.Background(), cfg, log, server.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler)
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	return &testEnv{t: t, srv: srv, http: hs, issuer: issuer, addr: issuer, store: srv.Store, clock: clk, cfg: cfg, tape: &randTape{}}
}

// tokenRequest posts a client_credentials request, with a traceparent when one is given.
func tokenRequest(t testing.TB, e *testEnv, c *testClient, secret, traceparent string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.addr+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, secret)
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func flush(t *testing.T, e *testEnv) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Tracing.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
}

// checkTree checks that trace spans form one tree under the server span root: every other
// span's parent is a span of the trace, and following parents ends at root. It returns the
// store spans.
func checkTree(t *testing.T, spans []tracingtest.Span, root tracingtest.Span) []tracingtest.Span {
	t.Helper()
	byID := map[string]tracingtest.Span{}
	for _, s := range spans {
		byID[s.SpanID] = s
	}
	var store []tracingtest.Span
	for _, s := range spans {
		if s.SpanID == root.SpanID {
			continue
		}
		cur, hops := s, 0
		for cur.SpanID != root.SpanID {
			p, ok := byID[cur.ParentSpanID]
			if !ok || hops > 10 {
				t.Errorf("span %s (%s): parent %s is not in the trace under %s", s.Name, s.SpanID, cur.ParentSpanID, root.Name)
				break
			}
			cur, hops = p, hops+1
		}
		if strings.HasPrefix(s.Name, "store.") {
			store = append(store, s)
		}
	}
	return store
}

// TestTraceExportedToOTLPReceiver runs a token request carrying a W3C traceparent from a
// trusted proxy, a scripted sign-in with a code exchange, and a password reset mailed by the
// outbox worker, with tracing pointed at an in-test OTLP/HTTP receiver. The receiver must
// get, in the caller's trace, the server span named by route template as a child of the
// caller's span, with a span per store call under it; the sign-in's requests are traced with
// store spans under each; the mail worker's task and delivery are spans; and the request's
// log line names the trace.
func TestTraceExportedToOTLPReceiver(t *testing.T) {
	rc := tracingtest.New(t)
	var logs syncbuf.Buffer
	e := newTracedEnv(t, rc.URL(), []string{"127.0.0.1/32"}, &logs)
	if !e.srv.Tracing.Enabled() {
		t.Fatal("tracing is off with an endpoint configured")
	}
	c := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	resp := tokenRequest(t, e, c, c.Secret, "00-"+traceID+"-"+parentID+"-01")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token request: %d", resp.StatusCode)
	}
	reqID := resp.Header.Get("X-Request-ID")
	// Probes are not traced, nor are their store calls (no trace to put them in).
	for _, probe := range []string{"/healthz", "/readyz"} {
		r, err := http.Get(e.addr + probe)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
	}

	e.addUser("ada@example.com")
	rp := e.addClient(storage.ClientConfidential, firstParty)
	if tok := e.tokens(context.Background(), e.browser(), rp, "ada@example.com"); tok.AccessToken == "" {
		t.Fatal("sign-in gave no access token")
	}
	if err := e.srv.Accounts.StartReset(context.Background(), "ada@example.com", account.Meta{IP: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	// The outbox worker runs the reset task, then delivers the mail it queued.
	deadline := time.Now().Add(15 * time.Second)
	for {
		flush(t, e)
		names := map[string]bool{}
		for _, s := range rc.Spans() {
			names[s.Name] = true
		}
		if names["mail.send"] && names["mail.task "+account.ResetRequestTask] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail spans after 15 s; got %v", names)
		}
		time.Sleep(100 * time.Millisecond)
	}

	t.Run("token request under the caller's span", func(t *testing.T) {
		spans := rc.Trace(traceID)
		var root []tracingtest.Span
		for _, s := range spans {
			if s.ParentSpanID == parentID {
				root = append(root, s)
			}
		}
		if len(root) != 1 {
			t.Fatalf("want one span under the caller's, got %v (trace: %v)", root, spans)
		}
		r := root[0]
		if r.Name != "POST /oauth/token" || r.Kind.String() != "SPAN_KIND_SERVER" || r.Service != "myaccount" ||
			r.Attributes["http.route"] != "/oauth/token" || r.Attributes["http.response.status_code"] != "200" ||
			r.Attributes["myaccount.request_id"] != reqID || r.StatusError {
			t.Errorf("server span %+v (request id %s)", r, reqID)
		}
		store := checkTree(t, spans, r)
		if len(store) == 0 {
			t.Fatalf("no store spans in the token request's trace: %v", spans)
		}
		for _, s := range store {
			if s.Kind.String() != "SPAN_KIND_CLIENT" || s.Attributes["db.system.name"] != "sqlite" ||
				"store."+s.Attributes["db.operation.name"] != s.Name {
				t.Errorf("store span %+v", s)
			}
		}
		t.Logf("token request: %d spans, store calls %v", len(spans), names(store))
	})

	t.Run("log line names the trace", func(t *testing.T) {
		// The sign-in's password post logs "password accepted": that line must carry the
		// request id and the id of the exported trace whose server span is POST /login.
		tid := logTraceID(t, logs.String(), "password accepted")
		var found bool
		for _, s := range rc.Trace(tid) {
			found = found || (s.Name == "POST /login" && s.Kind.String() == "SPAN_KIND_SERVER")
		}
		if !found {
			t.Errorf("trace %s of the logged sign-in has no POST /login server span: %v", tid, rc.Trace(tid))
		}
	})

	t.Run("sign-in requests traced with store spans", func(t *testing.T) {
		servers := map[string]tracingtest.Span{}
		for _, s := range rc.Spans() {
			if s.Kind.String() == "SPAN_KIND_SERVER" {
				servers[s.Name] = s
			}
		}
		for _, name := range []string{"GET /authorize", "POST /login", "POST /oauth/token"} {
			root, ok := servers[name]
			if !ok {
				t.Errorf("no server span %q; have %v", name, spanNames(servers))
				continue
			}
			if store := checkTree(t, rc.Trace(root.TraceID), root); len(store) == 0 {
				t.Errorf("%s: no store spans", name)
			}
		}
	})

	t.Run("probes untraced", func(t *testing.T) {
		for _, s := range rc.Spans() {
			if r := s.Attributes["http.route"]; r == "/healthz" || r == "/readyz" {
				t.Errorf("probe traced: %+v", s)
			}
			if strings.HasPrefix(s.Name, "store.") && s.ParentSpanID == "" {
				t.Errorf("store span outside any trace: %+v", s)
			}
		}
	})

	t.Run("mail worker spans", func(t *testing.T) {
		for _, s := range rc.Spans() {
			switch s.Name {
			case "mail.send":
				if s.Kind.String() != "SPAN_KIND_CLIENT" || s.Attributes["mail.transport"] != "log" || s.StatusError {
					t.Errorf("mail.send %+v", s)
				}
				for k, v := range s.Attributes {
					if strings.Contains(v, "ada@") {
						t.Errorf("mail span attribute %s names the recipient", k)
					}
				}
			case "mail.task " + account.ResetRequestTask:
				if store := checkTree(t, rc.Trace(s.TraceID), s); len(store) == 0 {
					t.Errorf("reset task: no store spans under it")
				}
			}
		}
	})
}

// TestJobRunsAreTraces: each periodic job run is a trace "job NAME" with its store calls
// beneath it.
func TestJobRunsAreTraces(t *testing.T) {
	rc := tracingtest.New(t)
	e := newTracedEnv(t, rc.URL(), nil, &syncbuf.Buffer{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.srv.RunJobs(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		flush(t, e)
		var job *tracingtest.Span
		for _, s := range rc.Spans() {
			if s.Name == "job housekeeping" {
				job = &s
			}
		}
		if job != nil {
			if store := checkTree(t, rc.Trace(job.TraceID), *job); len(store) == 0 || job.ParentSpanID != "" {
				t.Errorf("job span %+v: store spans %v", job, names(store))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no job span after 15 s: %v", names(rc.Spans()))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTraceParentOnlyFromTrustedProxies: a traceparent from a peer that is not a trusted
// proxy is ignored (a new trace starts), as an X-Request-ID from it is.
func TestTraceParentOnlyFromTrustedProxies(t *testing.T) {
	rc := tracingtest.New(t)
	e := newTracedEnv(t, rc.URL(), []string{"192.0.2.0/24"}, &syncbuf.Buffer{})
	c := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	if st := tokenRequest(t, e, c, c.Secret, "00-"+traceID+"-00f067aa0ba902b7-01").StatusCode; st != http.StatusOK {
		t.Fatalf("token request: %d", st)
	}
	flush(t, e)
	var server []tracingtest.Span
	for _, s := range rc.Spans() {
		if s.Name == "POST /oauth/token" {
			server = append(server, s)
		}
	}
	if len(server) != 1 || server[0].TraceID == traceID || server[0].ParentSpanID != "" {
		t.Errorf("untrusted traceparent was followed: %+v", server)
	}
}

// TestTracingOffExportsNothing: without an endpoint nothing is wrapped or exported, and log
// lines carry no trace id.
func TestTracingOffExportsNothing(t *testing.T) {
	rc := tracingtest.New(t)
	var logs syncbuf.Buffer
	e := newTracedEnv(t, "", []string{"127.0.0.1/32"}, &logs)
	if e.srv.Tracing.Enabled() {
		t.Fatal("tracing on without an endpoint")
	}
	c := e.addClient(storage.ClientConfidential, withGrants("client_credentials"))
	if st := tokenRequest(t, e, c, c.Secret, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").StatusCode; st != http.StatusOK {
		t.Fatalf("token request: %d", st)
	}
	e.addUser("ada@example.com")
	e.tokens(context.Background(), e.browser(), e.addClient(storage.ClientConfidential, firstParty), "ada@example.com")
	flush(t, e)
	if n := rc.Requests(); n != 0 {
		t.Errorf("receiver got %d exports", n)
	}
	if strings.Contains(logs.String(), "trace_id=") {
		t.Errorf("trace id logged with tracing off:\n%s", logs.String())
	}
	if line := logLine(logs.String(), "password accepted"); !strings.Contains(line, "request_id=") {
		t.Errorf("the sign-in's log line lacks its request id: %q", line)
	}
}

// logLine returns the first log line containing msg.
func logLine(log, msg string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, msg) {
			return l
		}
	}
	return ""
}

// logTraceID returns the trace id of the log line containing msg, which must also carry a
// request id.
func logTraceID(t *testing.T, log, msg string) string {
	t.Helper()
	line := logLine(log, msg)
	_, rest, ok := strings.Cut(line, "trace_id=")
	if !ok || !strings.Contains(line, "request_id=") {
		t.Fatalf("log line %q lacks trace_id or request_id; log:\n%s", msg, log)
	}
	tid, _, _ := strings.Cut(rest, " ")
	return tid
}

func names(spans []tracingtest.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

func spanNames[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
