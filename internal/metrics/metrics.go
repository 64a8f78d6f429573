// Package metrics defines MyAccount's Prometheus metrics on a registry of its own (no global
// state: two servers in one test process count apart). Domain packages call the nil-safe
// methods of *Metrics and never touch prometheus; a nil *Metrics counts nothing.
package metrics

import (
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/myaccount/myaccount/internal/statusrec"
)

const namespace = "myaccount"

// Metrics holds the registry and every metric MyAccount records.
type Metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	signIns   *prometheus.CounterVec
	mfa       *prometheus.CounterVec
	tokens    *prometheus.CounterVec
	lockouts  *prometheus.CounterVec
	mailFails *prometheus.CounterVec
	jobRuns   *prometheus.CounterVec
}

// New returns metrics on a fresh registry, with the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace,
			Name: "http_requests_total", Help: "HTTP requests by route template, method and status code."},
			[]string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace,
			Name: "http_request_duration_seconds", Help: "HTTP request latency by route template.",
			// Sign-ins hash with argon2id (tens of ms), so the buckets reach into seconds.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
			[]string{"route"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace,
			Name: "signins_total", Help: "Password sign-in attempts by result (ok, failed, locked, throttled, inactive, error)."},
			[]string{"method", "result"}),
		mfa: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace,
			Name: "mfa_total", Help: "Second-step attempts by kind (totp, recovery_code, email_code, webauthn) and result."},
			[]string{"kind", "result"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace,
			Name: "tokens_issued_total", Help: "Token responses issued by grant type."},
			[]string{"grant"}),
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace,
			Name: "lockouts_total", Help: "Password lockouts started, by scope (account or device)."},
			[]string{"scope"}),
		mailFails: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace,
			Name: "mail_failures_total", Help: "Failed mail outbox attempts by outcome (retry or given_up) and kind (message, or the task: register, reset-request, sms, backchannel_logout…)."},
			[]string{"outcome", "kind"}),
		jobRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace,
			Name: "job_runs_total", Help: "Periodic job runs on this instance (lease taken), by job."},
			[]string{"job"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.signIns, m.mfa, m.tokens, m.lockouts, m.mailFails, m.jobRuns,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry is the registry itself, for collectors that belong to other packages.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SignIn counts a sign-in attempt.
func (m *Metrics) SignIn(method, result string) {
	if m != nil {
		m.signIns.WithLabelValues(method, result).Inc()
	}
}

// MFA counts a second-step attempt of kind; ok says whether it passed.
func (m *Metrics) MFA(kind string, ok bool) {
	if m != nil {
		res := "failed"
		if ok {
			res = "ok"
		}
		m.mfa.WithLabelValues(kind, res).Inc()
	}
}

// Token counts a token response for grant (the OAuth grant_type).
func (m *Metrics) Token(grant string) {
	if m != nil {
		m.tokens.WithLabelValues(grant).Inc()
	}
}

// Lockout counts a lockout of scope ("account" or "device").
func (m *Metrics) Lockout(scope string) {
	if m != nil {
		m.lockouts.WithLabelValues(scope).Inc()
	}
}

// MailFailure counts a failed outbox attempt of an item of kind: "retry" or "given_up".
func (m *Metrics) MailFailure(kind, outcome string) {
	if m != nil {
		m.mailFails.WithLabelValues(outcome, kind).Inc()
	}
}

// JobRun counts a run of a periodic job.
func (m *Metrics) JobRun(job string) {
	if m != nil {
		m.jobRuns.WithLabelValues(job).Inc()
	}
}

// DBStats exports a database pool's sql.DBStats under db="name".
func (m *Metrics) DBStats(name string, db *sql.DB) {
	if m != nil && db != nil {
		m.reg.MustRegister(collectors.NewDBStatsCollector(db, name))
	}
}

// HashQueue exports the password-hash limiter's running and waiting counts.
func (m *Metrics) HashQueue(stats func() (running, waiting int)) {
	if m == nil || stats == nil {
		return
	}
	m.reg.MustRegister(
		gauge("password_hashes_running", "Password hashes (argon2id) running now.", func() float64 { r, _ := stats(); return float64(r) }),
		gauge("password_hashes_waiting", "Password hashes waiting for a slot now.", func() float64 { _, w := stats(); return float64(w) }),
	)
}

// HashUsage exports what password hashing has cost on this instance: slots used and their
// CPU and wall seconds (secret.Limiter.Usage). CPU over slots is a hash's cost as it runs
// here, beside everything else the server does.
func (m *Metrics) HashUsage(usage func() (slots int64, cpu, wall time.Duration)) {
	if m == nil || usage == nil {
		return
	}
	m.reg.MustRegister(
		counter("password_hashes_total", "Password hashing slots used (a hash, or a verification of up to two hashes).", func() float64 { n, _, _ := usage(); return float64(n) }),
		counter("password_hash_cpu_seconds_total", "CPU time of the threads that hashed passwords, while they did.", func() float64 { _, c, _ := usage(); return c.Seconds() }),
		counter("password_hash_seconds_total", "Wall time password hashing slots were held.", func() float64 { _, _, w := usage(); return w.Seconds() }),
	)
}

// HashCost exports the argon2id cost of new password hashes (security.password_hash_*), so
// that a load test can check it measures its ceiling at the server's cost.
func (m *Metrics) HashCost(memoryKiB, iterations uint32) {
	if m == nil {
		return
	}
	m.reg.MustRegister(
		gauge("password_hash_memory_kib", "argon2id memory cost of new password hashes, KiB.", func() float64 { return float64(memoryKiB) }),
		gauge("password_hash_iterations", "argon2id passes of new password hashes.", func() float64 { return float64(iterations) }),
	)
}

// OutboxDepth exports the number of pending mail outbox items, read at scrape time; a
// failed read is reported as -1 rather than failing the whole scrape.
func (m *Metrics) OutboxDepth(count func() (int, error)) {
	if m == nil || count == nil {
		return
	}
	m.reg.MustRegister(gauge("mail_outbox_pending", "Mail outbox items waiting to be delivered (-1: the count failed).", func() float64 {
		n, err := count()
		if err != nil {
			return -1
		}
		return float64(n)
	}))
}

// WAL exports SQLite's write-ahead log, read at scrape time: its size, and how many
// checkpoints copied it into the database and rewound it. A size that keeps growing under
// load while rewinds stand still is a long read holding it (docs/sizing-journal.md).
func (m *Metrics) WAL(stats func() (bytes, checkpoints, rewinds int64)) {
	if m == nil || stats == nil {
		return
	}
	m.reg.MustRegister(
		gauge("sqlite_wal_bytes", "Size of SQLite's write-ahead log file.", func() float64 { b, _, _ := stats(); return float64(b) }),
		counter("sqlite_checkpoints_total", "Checkpoints that copied the write-ahead log into the database.", func() float64 { _, c, _ := stats(); return float64(c) }),
		counter("sqlite_wal_rewinds_total", "Checkpoints after which the write-ahead log started again from the beginning.", func() float64 { _, _, r := stats(); return float64(r) }),
	)
}

// gauge and counter make a metric of the namespace read from f at scrape time.
func gauge(name, help string, f func() float64) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, f)
}

func counter(name, help string, f func() float64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, f)
}

// Middleware records every request's count and latency under route(r), which must return
// a bounded set of labels (a route template, never a raw path).
func (m *Metrics) Middleware(next http.Handler, route func(*http.Request) string) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := statusrec.New(w)
		defer func() {
			code := sw.Code()
			rt := route(r)
			m.requests.WithLabelValues(rt, method(r.Method), strconv.Itoa(code)).Inc()
			m.latency.WithLabelValues(rt).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

// method bounds the method label: any client can send any token as a method.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}
