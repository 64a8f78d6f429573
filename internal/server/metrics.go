package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/jmoiron/sqlx"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/metrics"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/sqlstore"
)

// StartMetrics serves /metrics on metrics.listen, apart from the public listener, until stop
// is called. addr is the bound address; with metrics.listen empty nothing listens and addr
// is "".
func (s *Server) StartMetrics() (addr string, stop func(), err error) {
	if s.cfg.Metrics.Listen == "" {
		return "", func() {}, nil
	}
	ln, err := net.Listen("tcp", s.cfg.Metrics.Listen)
	if err != nil {
		return "", nil, err
	}
	mx := http.NewServeMux()
	mx.Handle("GET /metrics", s.Metrics.Handler())
	srv := &http.Server{Handler: mx, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics listener", "err", err)
		}
	}()
	s.log.Info("serving Prometheus metrics", "listen", ln.Addr().String())
	return ln.Addr().String(), func() { srv.Close() }, nil
}

// routeLabel names a request by the template of the route that serves it (the provider's
// paths on root, the admin API's own routes, then the UI's), so the metrics' labels stay a
// fixed set whatever paths clients send.
func routeLabel(root, uiRouter *mux.Router, adminRoute func(*http.Request) string) func(*http.Request) string {
	template := func(rt *mux.Router, r *http.Request) string {
		var m mux.RouteMatch
		if !rt.Match(r, &m) || m.Route == nil {
			return ""
		}
		t, err := m.Route.GetPathTemplate()
		if err != nil {
			return ""
		}
		return t
	}
	return func(r *http.Request) string {
		switch r.URL.Path {
		case "/healthz", "/readyz", "/ready":
			return r.URL.Path
		}
		// root's catch-all "/" hands over to the UI router.
		if t := template(root, r); t != "" && t != "/" {
			if t == admin.Prefix+"/" {
				if a := adminRoute(r); a != "" {
					return a
				}
			}
			return t
		}
		if t := template(uiRouter, r); t != "" {
			return t
		}
		return "other"
	}
}

// observeStore exports the SQL pools' statistics and the mail outbox's depth, read from the
// store as opened (beneath the request guard: a scrape is no request).
func observeStore(m *metrics.Metrics, st storage.Store) {
	db, ok := st.(interface {
		SQLX() *sqlx.DB
		ReadSQLX() *sqlx.DB
	})
	if !ok {
		return
	}
	m.DBStats("main", db.SQLX().DB)
	if db.ReadSQLX() != db.SQLX() {
		m.DBStats("read", db.ReadSQLX().DB)
	}
	if w, ok := st.(interface {
		WALStats() (sqlstore.WALStats, bool)
	}); ok {
		if _, ok := w.WALStats(); ok {
			m.WAL(func() (int64, int64, int64) {
				s, _ := w.WALStats()
				return s.Bytes, s.Checkpoints, s.Rewinds
			})
		}
	}
	m.OutboxDepth(func() (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var n int
		err := db.ReadSQLX().GetContext(ctx, &n, `SELECT COUNT(*) FROM outbox WHERE status = 'pending'`)
		return n, err
	})
}
