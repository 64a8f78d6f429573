package server

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/registration"
	"github.com/myaccount/myaccount/storage"
)

// registrationPath is where dynamic client registration is served when enabled.
const registrationPath = "/connect/register"

// isRegistrationAPI reports whether path belongs to dynamic client registration, which
// answers in JSON like the OAuth endpoints.
func isRegistrationAPI(path string) bool {
	return path == registrationPath || strings.HasPrefix(path, registrationPath+"/")
}

// mountRegistration serves RFC 7591/7592 at registrationPath.
func mountRegistration(root *mux.Router, store storage.Store, issuer string, clientIP func(*http.Request) string,
	log *slog.Logger, now func() time.Time) *registration.Service {
	svc := &registration.Service{Store: store, Now: now, Logger: log,
		ClientURI: func(id string) string { return issuer + registrationPath + "/" + id }}
	h := &registration.Handler{Service: svc, Path: registrationPath, ClientIP: clientIP, Logger: log}
	root.Handle(registrationPath, h)
	root.PathPrefix(registrationPath + "/").Handler(h)
	return svc
}
