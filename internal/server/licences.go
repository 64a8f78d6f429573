package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/licence"
	"github.com/myaccount/myaccount/op"
	"github.com/myaccount/myaccount/storage"
)

// licenceAPIPrefix is where products manage seats with the person's access token (issue 14).
const licenceAPIPrefix = "/api/v1/licences/"

// isLicenceAPI reports whether path belongs to the licence API, which answers in JSON.
func isLicenceAPI(path string) bool { return strings.HasPrefix(path, licenceAPIPrefix) }

// newLicences builds the licence service: redemption limits on the shared counters,
// reminders through the mail outbox in the person's language.
func newLicences(store storage.Store, sender licence.Sender, bundle *i18n.Bundle, issuer, renewalURL string,
	log *slog.Logger, now func() time.Time) *licence.Service {
	return &licence.Service{Store: store, Guard: &guard.Guard{Store: store, Now: now}, Now: now, Log: log,
		Reminders: &licence.Reminders{Mail: sender, Text: bundle, AccountURL: issuer + "/account/licences", RenewalURL: renewalURL}}
}

// SendLicenceReminders is the periodic job that mails licence reminders (under its lease).
func (s *Server) SendLicenceReminders(ctx context.Context) {
	if s.Licences == nil {
		return
	}
	n, err := s.Licences.SendReminders(ctx)
	if err != nil {
		s.log.ErrorContext(ctx, "licence reminders", "err", err)
	}
	if n > 0 {
		s.log.InfoContext(ctx, "licence reminders queued", "mails", n)
	}
}

// mountLicenceAPI serves POST /api/v1/licences/{id}/activations: a product binds a seat of
// the person's licence to the installation its access token was issued to. 201 with the
// licence's entitlement as this installation sees it; 409 with the devices holding the seats
// when the licence is full.
func mountLicenceAPI(root *mux.Router, svc *licence.Service, prov *op.Provider, clientIP func(*http.Request) string, log *slog.Logger) {
	h := &licenceAPI{svc: svc, prov: prov, clientIP: clientIP, log: log}
	root.HandleFunc(licenceAPIPrefix+"{id}/activations", h.activate).Methods(http.MethodPost)
	// Another method is the API's 405, in JSON: unmatched, the path went on to the UI's
	// catch-all and got its HTML "not found" page (and a CSRF cookie).
	root.HandleFunc(licenceAPIPrefix+"{id}/activations", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		licenceAPIError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST")
	})
}

type licenceAPI struct {
	svc      *licence.Service
	prov     *op.Provider
	clientIP func(*http.Request) string
	log      *slog.Logger
}

// seatHolder is a device holding a seat, as a 409 lists it.
type seatHolder struct {
	DeviceName string `json:"device_name"`
	Since      int64  `json:"since"`
	ThisClient bool   `json:"this_client"`
}

func (h *licenceAPI) activate(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		// RFC 6750 §3.1: a request without any token is told the scheme, not an error code.
		w.Header().Set("WWW-Authenticate", "Bearer")
		licenceAPIError(w, http.StatusUnauthorized, "invalid_request", "an access token with the licences scope is required")
		return
	}
	b, err := h.prov.VerifyLicenceToken(r.Context(), strings.TrimSpace(token))
	if errors.Is(err, op.ErrBadLicenceToken) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		licenceAPIError(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired, revoked or lacks the licences scope")
		return
	}
	if err != nil {
		h.ours(w, r, err)
		return
	}
	id := mux.Vars(r)["id"]
	err = h.svc.Activate(r.Context(), id, b.Grant, licence.Meta{ClientID: b.Grant.ClientID, IP: h.clientIP(r), UserAgent: r.UserAgent()})
	var full *licence.SeatsFullError
	switch {
	case errors.As(err, &full):
		holders := make([]seatHolder, 0, len(full.Holders))
		for _, a := range full.Holders {
			holders = append(holders, seatHolder{DeviceName: a.DeviceName, Since: a.CreatedAt.Unix(), ThisClient: a.ClientID == b.Grant.ClientID})
		}
		licenceJSON(w, http.StatusConflict, map[string]any{"error": "no_free_seat",
			"error_description": "every seat of the licence is taken; free one in the account's Licences page", "holders": holders})
		return
	case errors.Is(err, licence.ErrNotFound), errors.Is(err, licence.ErrNotProduct):
		// Another person's licence, or another product's, is as good as none.
		licenceAPIError(w, http.StatusNotFound, "not_found", "no such licence for this person and product")
		return
	case errors.Is(err, licence.ErrInactive):
		licenceAPIError(w, http.StatusConflict, "licence_inactive", "the licence has expired or was revoked")
		return
	case err != nil:
		h.ours(w, r, err)
		return
	}
	es, err := h.svc.Entitlements(r.Context(), b.Grant.UserID, b.Grant.ClientID, b.Grant, false)
	if err != nil {
		h.ours(w, r, err)
		return
	}
	for _, e := range es {
		if e.ID == id {
			licenceJSON(w, http.StatusCreated, e)
			return
		}
	}
	h.ours(w, r, errors.New("activated licence missing from the entitlements"))
}

// ours answers a failure of ours; faultAnswers turns it into the fixed 503 or 500 answer.
func (h *licenceAPI) ours(w http.ResponseWriter, r *http.Request, err error) {
	h.log.ErrorContext(r.Context(), "licence api", "path", r.URL.Path, "err", err)
	licenceAPIError(w, http.StatusInternalServerError, "server_error", "")
}

func licenceAPIError(w http.ResponseWriter, status int, code, desc string) {
	body := map[string]string{"error": code}
	if desc != "" {
		body["error_description"] = desc
	}
	licenceJSON(w, status, body)
}

func licenceJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
