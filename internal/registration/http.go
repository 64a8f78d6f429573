package registration

import (
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strings"
)

// maxBody bounds a registration request: metadata is small.
const maxBody = 64 << 10

// Handler serves POST Path (RFC 7591) and GET/PUT/DELETE Path/{client_id} (RFC 7592).
type Handler struct {
	Service  *Service
	Path     string // e.g. "/connect/register"
	ClientIP func(*http.Request) string
	Logger   *slog.Logger
}

// ServeHTTP routes by method and path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	rest, ok := strings.CutPrefix(r.URL.Path, h.Path)
	switch {
	case !ok:
		http.NotFound(w, r)
	case rest == "" && r.Method == http.MethodPost:
		h.register(w, r)
	case rest == "":
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST to register a client")
	case strings.HasPrefix(rest, "/") && !strings.Contains(rest[1:], "/") && len(rest) > 1:
		h.manage(w, r, rest[1:])
	default:
		http.NotFound(w, r)
	}
}

// bearer returns the Bearer token of the request (RFC 6750 §2.1), "" when there is none.
func bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

func (h *Handler) ip(r *http.Request) string {
	if h.ClientIP == nil {
		return r.RemoteAddr
	}
	return h.ClientIP(r)
}

// readMetadata decodes a JSON body; a body that is not JSON metadata is the client's error.
func readMetadata(w http.ResponseWriter, r *http.Request) (Metadata, bool) {
	var md Metadata
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusBadRequest, "invalid_client_metadata", "the request body must be application/json")
		return md, false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(&md); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_client_metadata", "the request body is not valid client metadata JSON")
		return md, false
	}
	return md, true
}

func (h *Handler) register(w http.ResponseWriter, r *http.Request) {
	tok := bearer(r)
	if tok == "" {
		unauthorized(w, "")
		return
	}
	md, ok := readMetadata(w, r)
	if !ok {
		return
	}
	reg, err := h.Service.Register(r.Context(), tok, md, h.ip(r), r.UserAgent())
	if h.failed(w, r, err) {
		return
	}
	writeJSON(w, http.StatusCreated, reg)
}

func (h *Handler) manage(w http.ResponseWriter, r *http.Request, clientID string) {
	tok := bearer(r)
	if tok == "" {
		unauthorized(w, "")
		return
	}
	switch r.Method {
	case http.MethodGet:
		reg, err := h.Service.Read(r.Context(), tok, clientID)
		if !h.failed(w, r, err) {
			writeJSON(w, http.StatusOK, reg)
		}
	case http.MethodPut:
		md, ok := readMetadata(w, r)
		if !ok {
			return
		}
		reg, err := h.Service.Update(r.Context(), tok, clientID, md, h.ip(r), r.UserAgent())
		if !h.failed(w, r, err) {
			writeJSON(w, http.StatusOK, reg)
		}
	case http.MethodDelete:
		if err := h.Service.Delete(r.Context(), tok, clientID, h.ip(r), r.UserAgent()); !h.failed(w, r, err) {
			w.WriteHeader(http.StatusNoContent)
		}
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE")
		writeError(w, http.StatusMethodNotAllowed, "invalid_request", "use GET, PUT or DELETE")
	}
}

// failed answers err, if any: the client's mistakes as RFC 7591/6750 errors; anything else is
// ours and answered 500, which the server's fault mapping turns into 503 when a dependency
// failed. A refused token never hides a failure of ours (the service tells them apart).
func (h *Handler) failed(w http.ResponseWriter, r *http.Request, err error) bool {
	var me *MetadataError
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrInvalidToken):
		unauthorized(w, "invalid_token")
	case errors.As(err, &me):
		writeError(w, http.StatusBadRequest, me.Code, me.Description)
	default:
		log := h.Logger
		if log == nil {
			log = slog.Default()
		}
		log.ErrorContext(r.Context(), "client registration", "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "The server could not complete the request.")
	}
	return true
}

// unauthorized answers 401 with the RFC 6750 challenge; code is "" when no token was sent.
func unauthorized(w http.ResponseWriter, code string) {
	if code == "" {
		w.Header().Set("WWW-Authenticate", `Bearer`)
		writeError(w, http.StatusUnauthorized, "invalid_token", "a Bearer token is required")
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer error="`+code+`"`)
	writeError(w, http.StatusUnauthorized, code, "the token is not valid for this request")
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
