package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/op"
	"github.com/myaccount/myaccount/storage"
)

// adminDeps is what the admin API is built from.
type adminDeps struct {
	store    storage.Store
	accounts *account.Service
	factors  *mfa.Service
	sessions *sessions.Service
	provider *op.Provider
	clientIP func(*http.Request) string
	log      *slog.Logger
	now      func() time.Time
}

// mountAdmin serves the admin API (internal/admin) at admin.Prefix on root. Bearer tokens
// are checked by the provider's own verification (what /userinfo and introspection do).
func mountAdmin(root *mux.Router, d adminDeps) (*admin.Service, error) {
	svc := &admin.Service{Store: d.store, Accounts: d.accounts, Factors: d.factors, Sessions: d.sessions,
		Now: d.now, Logger: d.log}
	api, err := admin.NewAPI(admin.APIConfig{
		Service:  svc,
		Verify:   verifyWith(d.provider),
		ClientIP: d.clientIP,
		Logger:   d.log,
		Now:      d.now,
	})
	if err != nil {
		return nil, err
	}
	root.PathPrefix(admin.Prefix + "/").Handler(api)
	return svc, nil
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
		return admin.Token{Subject: t.Subject, ClientID: t.ClientID, Scopes: t.Scopes, Person: t.Person}, nil
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
