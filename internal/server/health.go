package server

import (
	"context"
	"encoding/json"
	"net/http"
)

// live is the liveness probe (/healthz): the process serves HTTP. It touches no dependency,
// so a database outage never gets a healthy instance restarted.
func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	writeProbe(w, http.StatusOK, map[string]any{"status": "ok"})
}

// ready is the readiness probe (/readyz): the database answers within its deadline, the
// schema is one this binary knows and is fully migrated, and the signing keys are loaded. A
// load balancer stops sending traffic while it fails and resumes when it passes again, with
// no restart. The causes go to the log; the probe names only the failed checks.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Database.Timeout.Std())
	defer cancel()
	checks := map[string]string{}
	failed := false
	check := func(name string, err error) {
		if err != nil {
			s.log.WarnContext(ctx, "not ready", "check", name, "err", err)
			checks[name], failed = "fail", true
			return
		}
		checks[name] = "ok"
	}
	check("database", s.Store.Ping(ctx))
	if s.schema != nil {
		check("schema", s.schema(ctx))
	}
	_, err := s.Keys.Signer(ctx, "RS256")
	check("signing_keys", err)
	status, word := http.StatusOK, "ready"
	if failed {
		status, word = http.StatusServiceUnavailable, "not ready"
		w.Header().Set("Retry-After", retryAfter)
	}
	writeProbe(w, status, map[string]any{"status": word, "checks": checks})
}

func writeProbe(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
