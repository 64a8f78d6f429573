package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/op"
)

// mountAdmin serves the admin API (internal/admin) at admin.Prefix on root, over svc (the
// console's service too: one set of rules), and returns it (its routes name the metrics
// labels of its requests). Bearer tokens are checked by the provider's own verification
// (what /userinfo and introspection do); the rate limits count in svc's store.
func mountAdmin(root *mux.Router, svc *admin.Service, provider *op.Provider, clientIP func(*http.Request) string,
	limits admin.Limits, log *slog.Logger, now func() time.Time) (*admin.API, error) {
	api, err := admin.NewAPI(admin.APIConfig{
		Service:  svc,
		Verify:   verifyWith(provider),
		ClientIP: clientIP,
		Limits:   limits,
		// The rate limits count in the store's SQL counters, so they hold across instances.
		Counters: svc.Store,
		Logger:   log,
		Now:      now,
	})
	if err != nil {
		return nil, err
	}
	root.PathPrefix(admin.Prefix + "/").Handler(api)
	return api, nil
}

// verifyWith adapts the provider's token verification to the admin API's.
func verifyWith(p *op.Provider) admin.TokenVerifier {
	return func(ctx context.Context, token string) (admin.Token, error) {
		t, err := p.VerifyAccessToken(ctx, token)
		if errors.Is(err, op.ErrInvalidToken) {
			return admin.Token{}, admin.ErrInvalidToken
		}
		if err != nil {
			return admin.Token{}, err
		}
		return admin.Token{Subject: t.Subject, ClientID: t.ClientID, Scopes: t.Scopes, Person: t.Person, AMR: t.AMR}, nil
	}
}

// isAdminAPI reports whether a path is the admin API's: the fault mapping answers it in
// problem+json.
func isAdminAPI(path string) bool { return strings.HasPrefix(path, admin.Prefix+"/") }

// adminFailure is the fault mapping's answer on an admin API path (Retry-After is set).
func adminFailure(w http.ResponseWriter, status int) {
	detail := descServerError
	if status == http.StatusServiceUnavailable {
		detail = descUnavailable
	}
	admin.WriteProblem(w, status, detail)
}
