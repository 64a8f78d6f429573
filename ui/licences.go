package ui

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/geo"
	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/licence"
	"github.com/myaccount/myaccount/storage"
)

// The person's licences (issue 14): add an activation code, see each licence's product,
// status, end, seats and devices, and free a seat. The rules are internal/licence's.

func (h *Handler) mountLicences(r *mux.Router) {
	if h.cfg.Licences == nil {
		return
	}
	r.HandleFunc("/account/licences", h.licencesGet).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/account/licences/redeem", h.licenceRedeem).Methods(http.MethodPost)
	r.HandleFunc("/account/licences/free", h.licenceFree).Methods(http.MethodPost)
}

// licenceStatusText names the statuses in plain words (translated in the template).
var licenceStatusText = map[string]string{
	storage.LicenceActive:  i18n.N("Active"),
	storage.LicenceExpired: i18n.N("Expired"),
	storage.LicenceRevoked: i18n.N("Revoked"),
}

type licenceDevice struct {
	LicenceID, DeviceID, Name, Since string
}

type licenceRow struct {
	ID, Product, Status, StatusKey, ValidUntil string
	SeatsUsed, Seats                           int
	Devices                                    []licenceDevice
}

type licencesPage struct {
	common
	Licences   []licenceRow
	Flash      string
	Error      string
	Code       string
	RenewalURL string
}

// licenceRows are the person's licences, newest first, with dates in their format and zone.
func (h *Handler) licenceRows(r *http.Request, u *storage.User, lang string) ([]licenceRow, error) {
	views, err := h.cfg.Licences.Overview(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	rows := make([]licenceRow, 0, len(views))
	for _, v := range views {
		row := licenceRow{ID: v.Licence.ID, Product: v.Product.Name, StatusKey: v.Status, Status: licenceStatusText[v.Status],
			SeatsUsed: v.SeatsUsed(), Seats: v.Licence.Seats}
		if v.Licence.ExpiresAt != nil {
			row.ValidUntil = geo.FormatDateIn(*v.Licence.ExpiresAt, u.DateFormat, u.ZoneInfo, lang)
		}
		for _, a := range v.Activations {
			name := a.DeviceName
			if name == "" {
				name = h.cfg.I18n.T(lang, "Unnamed device")
			}
			row.Devices = append(row.Devices, licenceDevice{LicenceID: v.Licence.ID, DeviceID: a.DeviceID, Name: name,
				Since: h.formatTime(a.CreatedAt, u, lang)})
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (h *Handler) renderLicences(w http.ResponseWriter, r *http.Request, u *storage.User, status int, flash, errMsg, code string) {
	c := h.commonFor(w, r, i18n.N("Your licences"), u)
	rows, err := h.licenceRows(r, u, c.Lang)
	if err != nil {
		h.fail(w, r, "list licences", err)
		return
	}
	h.render(w, r, status, "licences", licencesPage{common: c, Licences: rows, Flash: flash, Error: errMsg, Code: code,
		RenewalURL: h.cfg.LicenceRenewalURL})
}

func (h *Handler) licencesGet(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	lang := h.lang(r, u)
	flash := ""
	switch r.URL.Query().Get("done") {
	case "added":
		flash = h.cfg.I18n.T(lang, "The licence was added to your account.")
	case "freed":
		flash = h.cfg.I18n.T(lang, "The device no longer uses the licence. The app notices the next time it checks.")
	}
	h.renderLicences(w, r, u, http.StatusOK, flash, "", "")
}

// licenceRedeem adds a licence by its activation code. Unknown, revoked and someone else's
// codes all get one message; a typo the check character caught gets its own, as it says
// nothing about any licence.
func (h *Handler) licenceRedeem(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.signedInPost(w, r)
	if !ok {
		return
	}
	lang := h.lang(r, u)
	typed := r.PostFormValue("code")
	m := h.meta(r, lang)
	_, err := h.cfg.Licences.Redeem(r.Context(), u.ID, typed, licence.Meta{IP: m.IP, UserAgent: m.UserAgent})
	switch {
	case err == nil:
		http.Redirect(w, r, "/account/licences?done=added", http.StatusSeeOther)
	case errors.Is(err, licence.ErrMalformed):
		h.renderLicences(w, r, u, http.StatusUnprocessableEntity, "",
			h.cfg.I18n.T(lang, "This is not a valid activation code. Check it for typos: it looks like XXXXX-XXXXX-XXXXX-XXXXX."), truncate(typed, 64))
	case errors.Is(err, licence.ErrInvalidCode):
		h.renderLicences(w, r, u, http.StatusUnprocessableEntity, "",
			h.cfg.I18n.T(lang, "This activation code cannot be used."), truncate(typed, 64))
	case errors.Is(err, licence.ErrTooManyAttempts):
		wait := max(guard.LicenceRedeemAccount.Window(), guard.LicenceRedeemIP.Window())
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)))
		h.renderLicences(w, r, u, http.StatusTooManyRequests, "",
			h.cfg.I18n.T(lang, "Too many attempts. Try again %s.", geo.RelativeTime(wait, lang)), "")
	default:
		h.fail(w, r, "redeem licence", err)
	}
}

// licenceFree frees the seat a device holds on one of the person's licences.
func (h *Handler) licenceFree(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.signedInPost(w, r)
	if !ok {
		return
	}
	m := h.meta(r, h.lang(r, u))
	err := h.cfg.Licences.Free(r.Context(), u.ID, r.PostFormValue("licence_id"), r.PostFormValue("device_id"),
		licence.Meta{IP: m.IP, UserAgent: m.UserAgent})
	switch {
	case errors.Is(err, licence.ErrNotFound):
		// Someone else's licence is as good as none.
		h.ErrorPage(w, r, http.StatusNotFound, i18n.N("Not found"), i18n.N("There is no page at this address."))
	case err != nil:
		h.fail(w, r, "free licence seat", err)
	default:
		http.Redirect(w, r, "/account/licences?done=freed", http.StatusSeeOther)
	}
}
