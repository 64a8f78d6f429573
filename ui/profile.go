package ui

import (
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/geo"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/storage"
)

func (h *Handler) mountProfile(r *mux.Router) {
	r.HandleFunc("/profile", h.profileGet).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/profile", h.profilePost).Methods(http.MethodPost)
}

type dateChoice struct{ ID, Example string }

type profilePage struct {
	common
	AuthRequestID string
	Countries     []geo.Country
	Regions       []geo.Region
	TimeZones     []string
	DateFormats   []dateChoice
	Country       string
	Region        string
	ZoneInfo      string
	ZoneChosen    bool
	DateFormat    string
	Errors        map[string]string
	Focus         string
}

func (h *Handler) renderProfile(w http.ResponseWriter, r *http.Request, u *storage.User, p profilePage, status int) {
	p.common = h.commonFor(w, r, i18n.N("Complete your profile"), u)
	p.Countries = h.cfg.Geo.Countries(p.Lang)
	if p.Country != "" {
		p.Regions = h.cfg.Geo.Regions(p.Country)
	}
	p.TimeZones = h.cfg.Geo.TimeZones()
	if p.ZoneInfo == "" {
		p.ZoneInfo = h.cfg.Geo.DefaultTimeZone(p.Country)
	}
	if p.DateFormat == "" {
		p.DateFormat = geo.DefaultDateFormat
	}
	now := h.now()
	for _, f := range h.cfg.Geo.DateFormats() {
		p.DateFormats = append(p.DateFormats, dateChoice{ID: f.ID, Example: geo.FormatDate(now, f.ID, p.ZoneInfo)})
	}
	h.render(w, r, status, "profile", p)
}

func (h *Handler) profileGet(w http.ResponseWriter, r *http.Request) {
	s, u := h.currentSession(r)
	if s == nil {
		http.Redirect(w, r, "/login", http.StatusFound)
		return
	}
	h.renderProfile(w, r, u, profilePage{
		AuthRequestID: r.URL.Query().Get("authRequestID"), Country: u.Country, Region: u.Region,
		ZoneInfo: u.ZoneInfo, ZoneChosen: u.ZoneInfo != "", DateFormat: u.DateFormat,
	}, http.StatusOK)
}

func (h *Handler) profilePost(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	s, u := h.currentSession(r)
	if s == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	f := r.PostForm
	p := profilePage{AuthRequestID: f.Get("authRequestID"), Country: f.Get("country"), Region: f.Get("region"),
		ZoneInfo: f.Get("zoneinfo"), ZoneChosen: true, DateFormat: f.Get("date_format")}
	if f.Get("action") == "country" {
		// The country changed (JavaScript resubmits): show its regions, and its zone.
		p.Region, p.ZoneInfo = "", h.cfg.Geo.DefaultTimeZone(p.Country)
		p.Focus = "region"
		h.renderProfile(w, r, u, p, http.StatusOK)
		return
	}
	lang := h.lang(r, u)
	_, err := h.cfg.Accounts.UpdateProfile(r.Context(), h.cfg.Geo, u.ID, account.Profile{
		Name: u.Name, Country: p.Country, Region: p.Region, ZoneInfo: p.ZoneInfo, DateFormat: p.DateFormat, Locale: u.Locale,
	}, h.meta(r, lang))
	var perr *account.ProfileError
	if errors.As(err, &perr) {
		p.Errors = map[string]string{}
		for field, msg := range perr.Fields {
			p.Errors[field] = h.cfg.I18n.T(lang, msg)
		}
		p.Focus = firstOf(p.Errors, "country", "region", "zoneinfo", "date_format")
		h.renderProfile(w, r, u, p, http.StatusOK)
		return
	}
	if err != nil {
		h.fail(w, r, "update profile", err)
		return
	}
	if fl := h.optionalFlow(r, p.AuthRequestID); fl != nil {
		u, _ := h.cfg.Store.GetUser(r.Context(), u.ID)
		h.proceed(w, r, fl, s, u)
		return
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// formatTime shows t in the person's zone and date format.
func (h *Handler) formatTime(t time.Time, u *storage.User) string {
	return geo.FormatDate(t, u.DateFormat, u.ZoneInfo) + " " + inZone(t, u.ZoneInfo).Format("15:04 MST")
}

func inZone(t time.Time, tz string) time.Time {
	if loc, err := time.LoadLocation(tz); err == nil && tz != "" {
		return t.In(loc)
	}
	return t.UTC()
}
