package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/faultstore"
	"github.com/myaccount/myaccount/storage/postgres"
	"github.com/myaccount/myaccount/storage/postgres/pgtest"
	"github.com/myaccount/myaccount/storage/sqlite"
	"github.com/myaccount/myaccount/storage/sqlstore"
)

// serviceOn is the admin service over st (what each instance builds over its own handle on
// the shared database).
func serviceOn(st storage.Store) *admin.Service {
	return &admin.Service{Store: st, Accounts: &account.Service{Store: st, BaseURL: "https://id.example"},
		Sessions: &sessions.Service{Store: st}}
}

// sharedDB opens n handles on one new database of the dialect, as n instances (or one
// instance restarted) would.
func sharedDB(t *testing.T, dialect string, n int) []storage.Store {
	t.Helper()
	var open func() (*sqlstore.DB, error)
	switch dialect {
	case "sqlite":
		file := t.TempDir() + "/shared.db"
		open = func() (*sqlstore.DB, error) { return sqlite.Open(t.Context(), file) }
	case "postgres":
		url := pgtest.MigratedURL(t)
		open = func() (*sqlstore.DB, error) { return postgres.Open(t.Context(), url) }
	}
	out := make([]storage.Store, n)
	for i := range out {
		st, err := open()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		out[i] = st
	}
	return out
}

// retryAfter checks a 429 problem and returns its Retry-After.
func retryAfter(t *testing.T, w *httptest.ResponseRecorder, what string, window time.Duration) {
	t.Helper()
	var p admin.ProblemDoc
	if w.Code != 429 || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Status != 429 {
		t.Fatalf("%s: %d %s, want a 429 problem", what, w.Code, w.Body)
	}
	secs, err := strconv.Atoi(w.Header().Get("Retry-After"))
	if err != nil || secs < 1 || secs > int(window/time.Second) {
		t.Fatalf("%s: Retry-After %q, want 1..%d seconds (to the window's end)", what, w.Header().Get("Retry-After"), int(window/time.Second))
	}
}

// TestLimitsHoldAcrossInstances: two API instances on one database, requests alternated
// between them: the limit counts them together, so the (limit+1)th request overall is
// refused, per token and per IP; an instance started later (a restart) sees the count too.
func TestLimitsHoldAcrossInstances(t *testing.T) {
	const window = time.Minute
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Run("per token", func(t *testing.T) {
				dbs := sharedDB(t, dialect, 3)
				limits := admin.Limits{PerToken: 3, PerIP: 1000, Window: window}
				inst := []*admin.API{newAPIOn(t, serviceOn(dbs[0]), dbs[0], limits), newAPIOn(t, serviceOn(dbs[1]), dbs[1], limits)}
				for i := range limits.PerToken {
					if w := serve(inst[i%2], "GET", "/clients", "read", "192.0.2.1:1"); w.Code != 200 {
						t.Fatalf("request %d (instance %d): %d %s", i+1, i%2, w.Code, w.Body)
					}
				}
				retryAfter(t, serve(inst[limits.PerToken%2], "GET", "/clients", "read", "192.0.2.1:1"),
					fmt.Sprintf("request %d with one token, alternated over two instances", limits.PerToken+1), window)
				restarted := newAPIOn(t, serviceOn(dbs[2]), dbs[2], limits)
				retryAfter(t, serve(restarted, "GET", "/clients", "read", "192.0.2.2:1"), "the token on an instance started since", window)
				if w := serve(inst[0], "GET", "/clients", "write", "192.0.2.1:1"); w.Code != 200 {
					t.Fatalf("another token: %d %s", w.Code, w.Body)
				}
			})
			t.Run("per IP", func(t *testing.T) {
				dbs := sharedDB(t, dialect, 3)
				limits := admin.Limits{PerToken: 1000, PerIP: 4, Window: window}
				inst := []*admin.API{newAPIOn(t, serviceOn(dbs[0]), dbs[0], limits), newAPIOn(t, serviceOn(dbs[1]), dbs[1], limits)}
				tokens := []string{"read", "write"}
				for i := range limits.PerIP {
					if w := serve(inst[i%2], "GET", "/clients", tokens[i/2%2], "192.0.2.1:1"); w.Code != 200 {
						t.Fatalf("request %d (instance %d): %d %s", i+1, i%2, w.Code, w.Body)
					}
				}
				retryAfter(t, serve(inst[limits.PerIP%2], "GET", "/clients", "read", "192.0.2.1:2"),
					fmt.Sprintf("request %d from one IP, alternated over two instances", limits.PerIP+1), window)
				// Counted before the token is looked at: a bad one is refused the same.
				restarted := newAPIOn(t, serviceOn(dbs[2]), dbs[2], limits)
				retryAfter(t, serve(restarted, "GET", "/clients", "nonsense", "192.0.2.1:3"), "a bad token from the IP on an instance started since", window)
				if w := serve(inst[1], "GET", "/clients", "read", "192.0.2.9:1"); w.Code != 200 {
					t.Fatalf("another IP: %d %s", w.Code, w.Body)
				}
			})
		})
	}
}

// TestLimitCounterFailureIsOurs: a counter that cannot be written or read is our failure:
// 503 with Retry-After, never 429 (the caller's fault) and never the request let through
// unlimited; the driver's words do not reach the answer.
func TestLimitCounterFailureIsOurs(t *testing.T) {
	_, st := newService(t)
	fs := faultstore.New(st)
	limits := admin.Limits{PerToken: 2, PerIP: 1000, Window: time.Minute}
	api := newAPIOn(t, serviceOn(fs), fs, limits)
	for _, c := range []struct {
		name string
		rule faultstore.Rule
		pre  int // requests made before the rule applies
	}{
		{"the IP's hit", faultstore.Rule{Method: "HitCounter", Err: faultstore.ErrInjected}, 0},
		{"the token's hit", faultstore.Rule{Method: "HitCounter", Skip: 1, Err: faultstore.ErrInjected}, 0},
		// Over the limit, the window's start (for Retry-After) cannot be read.
		{"the window's start", faultstore.Rule{Method: "GetCounter", Err: faultstore.ErrInjected}, limits.PerToken},
	} {
		tok := "read"
		if c.pre > 0 {
			tok = "write" // a token with its own count
			for i := range c.pre {
				if w := serve(api, "GET", "/clients", tok, "192.0.2.1:1"); w.Code != 200 {
					t.Fatalf("%s: request %d: %d", c.name, i+1, w.Code)
				}
			}
		}
		fs.Add(c.rule)
		w := serve(api, "GET", "/clients", tok, "192.0.2.1:1")
		fs.Clear()
		var p admin.ProblemDoc
		if w.Code != 503 || w.Header().Get("Retry-After") == "" || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Status != 503 {
			t.Errorf("%s failing: %d (Retry-After %q) %s, want a 503 problem with Retry-After", c.name, w.Code, w.Header().Get("Retry-After"), w.Body)
		}
		if strings.Contains(w.Body.String(), "db.internal") {
			t.Errorf("%s failing: the driver's words reach the answer: %s", c.name, w.Body)
		}
	}
}

// TestLimitCountersArePurged: the admin API's counters go with the others, once their window
// started sqlstore.CounterRetention ago, and not before.
func TestLimitCountersArePurged(t *testing.T) {
	_, st := newService(t)
	now := time.Now()
	api, err := admin.NewAPI(admin.APIConfig{Service: serviceOn(st), Counters: st, Verify: stubVerify,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if w := serve(api, "GET", "/clients", "read", "192.0.2.1:1"); w.Code != 200 {
		t.Fatalf("request: %d %s", w.Code, w.Body)
	}
	ctx := t.Context()
	keys := []string{admin.TokenKey("read"), admin.IPKey("192.0.2.1")}
	if strings.Contains(keys[0], "read") {
		t.Fatalf("counter key %q holds the raw token", keys[0])
	}
	for _, at := range []struct {
		after time.Duration
		gone  bool
	}{{time.Hour, false}, {sqlstore.CounterRetention + time.Minute, true}} {
		if _, err := st.DeleteExpired(ctx, now.Add(at.after)); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			_, _, err := st.GetCounter(ctx, k)
			if gone := errors.Is(err, storage.ErrNotFound); gone != at.gone || (err != nil && !gone) {
				t.Errorf("counter %s after housekeeping %v later: err %v, want gone %v", k, at.after, err, at.gone)
			}
		}
	}
}

// memCounters is the in-memory fixed-window limiter the API had before its counts moved to
// SQL, behind the Counters interface: the benchmark's baseline.
type memCounters struct {
	mu     sync.Mutex
	counts map[string]int
	starts map[string]time.Time
}

func (m *memCounters) HitCounter(_ context.Context, key string, window time.Duration, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		m.counts, m.starts = map[string]int{}, map[string]time.Time{}
	}
	if s, ok := m.starts[key]; !ok || !now.Before(s.Add(window)) {
		m.counts[key], m.starts[key] = 0, now
	}
	m.counts[key]++
	return m.counts[key], nil
}

func (m *memCounters) GetCounter(_ context.Context, key string) (int, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.starts[key]
	if !ok {
		return 0, time.Time{}, storage.ErrNotFound
	}
	return m.counts[key], s, nil
}

// BenchmarkLimitedGET is one admin API GET (list clients, 20 of them, on SQLite) with the
// rate limits counted in memory (as before) and in the store's SQL counters (two upserts a
// request: IP and token), alternated in rounds within one run (-count would repeat each
// before the other):
//
//	go test -run '^$' -bench BenchmarkLimitedGET ./internal/admin/
func BenchmarkLimitedGET(b *testing.B) {
	st, err := sqlite.Open(b.Context(), b.TempDir()+"/bench.db")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	svc := serviceOn(st)
	for i := range 20 {
		if _, _, err := svc.CreateClient(b.Context(), adminPerson, admin.ClientSpec{Name: fmt.Sprintf("App %d", i),
			Type: storage.ClientPublic, RedirectURIs: []string{"https://app.example/cb"}}); err != nil {
			b.Fatal(err)
		}
	}
	unbounded := admin.Limits{PerToken: 1 << 30, PerIP: 1 << 30, Window: time.Minute}
	memory, sql := newAPIOn(b, svc, &memCounters{}, unbounded), newAPIOn(b, svc, st, unbounded)
	for round := range 4 {
		for _, c := range []struct {
			name string
			api  *admin.API
		}{{"memory", memory}, {"sql", sql}} {
			b.Run(fmt.Sprintf("%s/round=%d", c.name, round), func(b *testing.B) {
				for b.Loop() {
					if w := serve(c.api, "GET", "/clients?limit=20", "read", "192.0.2.1:1"); w.Code != 200 {
						b.Fatalf("%d %s", w.Code, w.Body)
					}
				}
			})
		}
	}
}
