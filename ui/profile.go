package ui

import (
	"errors"
	"net/http"
	"strings"
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
	r.HandleFunc("/profile/regions", h.profileRegions).Methods(http.MethodGet)
}

// dateChoice is a date format offered on the profile page: today's date in it, and for
// the numeric ones its pattern in the page's language, so 04/12 and 12/04 can be told
// apart ("DD/MM/YYYY", "TT/MM/JJJJ").
type dateChoice struct{ ID, Example, Pattern string }

// datePatterns are geo's DateFormat patterns, marked for the catalogs.
var datePatterns = []string{i18n.N("YYYY-MM-DD"), i18n.N("DD.MM.YYYY"), i18n.N("DD/MM/YYYY"), i18n.N("MM/DD/YYYY")}

type profilePage struct {
	common
	AuthRequestID string
	Countries     []geo.Country
	Regions       []geo.Region
	TimeZones     []geo.Zone
	DateFormats   []dateChoice
	Country       string
	Region        string
	ZoneInfo      string
	ZoneChosen    bool
	DateFormat    string
	Errors        map[string]string
	Focus         string
	// Editing is set when the profile is already complete: the person came to change it
	// ("Edit profile"), not to be asked for missing details ("Complete your profile").
	Editing bool
}

func (h *Handler) renderProfile(w http.ResponseWriter, r *http.Request, u *storage.User, p profilePage, status int) {
	title := i18n.N("Complete your profile")
	if p.Editing = account.Complete(u); p.Editing {
		title = i18n.N("Edit profile")
	}
	p.common = h.commonFor(w, r, title, u)
	p.Countries = h.cfg.Geo.Countries(p.Lang)
	if p.Country != "" {
		p.Regions = h.cfg.Geo.RegionsIn(p.Country, p.Lang)
	}
	now := h.now()
	// Labelled with a city in the page's language and today's offset, in offset order.
	p.TimeZones = h.cfg.Geo.TimeZonesIn(p.Lang, now)
	if p.ZoneInfo == "" {
		p.ZoneInfo = h.cfg.Geo.DefaultTimeZone(p.Country)
	}
	if p.DateFormat == "" {
		p.DateFormat = geo.DefaultDateFormat
	}
	for _, f := range h.cfg.Geo.DateFormats() {
		c := dateChoice{ID: f.ID, Example: geo.FormatDateIn(now, f.ID, p.ZoneInfo, p.Lang)}
		if f.Pattern != "" {
			c.Pattern = p.T(f.Pattern)
		}
		p.DateFormats = append(p.DateFormats, c)
	}
	h.render(w, r, status, "profile", p)
}

func (h *Handler) profileGet(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.optionalSession(w, r)
	if !ok {
		return
	}
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
	// A session that cannot be read is our failure (503), not a sign-out: sent to sign in,
	// the person would lose what they typed, and find themselves signed in anyway.
	s, u, ok := h.optionalSession(w, r)
	if !ok {
		return
	}
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
	updated, err := h.cfg.Accounts.UpdateProfile(r.Context(), h.cfg.Geo, u.ID, account.Profile{
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
	if p.AuthRequestID != "" {
		switch fl, problem := h.findFlow(r, p.AuthRequestID); problem {
		case flowOK:
			h.proceed(w, r, fl, s, updated) // the account as updated, not read again
			return
		case flowFinished:
			// The form sent again after it completed the sign-in (the back button, or its
			// answer lost): saved as sent, it says that sign-in is done, not the account page.
			h.flowFinishedPage(w, r, fl)
			return
		case flowFailed:
			// Saved; sent again once the store works, it continues the sign-in (not the
			// account page, which would leave the application waiting).
			h.fail(w, r, "profile: the sign-in it continues", errFlowRead)
			return
		}
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// profileRegions lists a country's regions in the page's language, and its usual time zone,
// for the profile page to update its region list in place when the country changes
// (reloading the page on every key press in the country list moved people's focus and
// landed "Ger" on Gabon: WCAG 3.2.2). Public data: no session needed.
func (h *Handler) profileRegions(w http.ResponseWriter, r *http.Request) {
	country := strings.ToUpper(r.URL.Query().Get("country"))
	type item struct {
		Code string `json:"code"`
		Name string `json:"name"`
	}
	out := struct {
		Regions []item `json:"regions"`
		Zone    string `json:"zone"`
	}{Regions: []item{}}
	if len(country) == 2 {
		for _, rg := range h.cfg.Geo.RegionsIn(country, h.lang(r, nil)) {
			out.Regions = append(out.Regions, item{rg.Code, rg.Name})
		}
		out.Zone = h.cfg.Geo.DefaultTimeZone(country)
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Vary", "Accept-Language, Cookie")
	writeJSON(w, http.StatusOK, out)
}

// formatTime shows t in the person's zone and date format, with month names in the
// page's language lang: "4. Dezember 2026, 15:17 UTC+1".
func (h *Handler) formatTime(t time.Time, u *storage.User, lang string) string {
	return geo.FormatDateTime(t, u.DateFormat, u.ZoneInfo, lang)
}

// lockoutText is the translated answer to a locked sign-in: when it ends relative to now
// ("in 15 minutes": it needs no time zone, so it is right for a person not signed in
// too) and, when u is known, the clock time in u's zone as well.
func (h *Handler) lockoutText(lang string, until time.Time, u *storage.User) string {
	in := geo.RelativeTime(until.Sub(h.now()), lang)
	if u == nil {
		return h.cfg.I18n.T(lang, "Too many failed sign-in attempts. Try again %s, or reset your password.", in)
	}
	at := geo.FormatClock(until, u.ZoneInfo)
	if until.Sub(h.now()) > 12*time.Hour {
		at = h.formatTime(until, u, lang) // another day: the date too
	}
	return h.cfg.I18n.T(lang, "Too many failed sign-in attempts. Try again %s (after %s), or reset your password.", in, at)
}
