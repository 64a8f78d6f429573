package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/sessions"
)

// TestPagesStateTheRulesFigures: the security and second-step pages give the recent sign-in
// window and the remembered browser's lifetime from the rules themselves, in each
// language's plural form, so changing a rule cannot leave a page promising the old figure.
func TestPagesStateTheRulesFigures(t *testing.T) {
	h := goldenHandler(t, true)
	cases := []struct {
		lang           string
		minutes, days  int
		wantIn, wantNo []string
	}{
		// The rules' own figures, as the handler passes them.
		{"en", int(sessions.ReauthWindow / time.Minute), int(mfa.TrustedBrowserTTL / (24 * time.Hour)),
			[]string{"within the last 5 minutes.", "second step for 30 days."}, nil},
		{"en", 7, 2, []string{"within the last 7 minutes.", "for 2 days."}, []string{"5 minutes", "30 days"}},
		{"de", 1, 1, []string{"in der letzten 1 Minute angemeldet", "den zweiten Schritt 1 Tag lang"}, []string{"5 Minuten", "30 Tage"}},
		{"ru", 5, 21, []string{"не ранее чем 5 минут назад", "21 день не запрашивает"}, nil},
		{"ru", 3, 30, []string{"не ранее чем 3 минуты назад", "30 дней не запрашивает"}, nil},
	}
	for _, c := range cases {
		p := securityPage{common: common{Lang: c.lang, tr: h.cfg.I18n, static: h.static[c.lang], Languages: h.languages},
			ReauthMinutes: c.minutes, RememberDays: c.days, Email: "a@example.com"}
		tpl, err := h.folded["security"][c.lang]()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := tpl.ExecuteTemplate(&b, "layout", p); err != nil {
			t.Fatal(err)
		}
		for _, s := range c.wantIn {
			if !strings.Contains(b.String(), s) {
				t.Errorf("%s security page (%d min, %d days) lacks %q", c.lang, c.minutes, c.days, s)
			}
		}
		for _, s := range c.wantNo {
			if strings.Contains(b.String(), s) {
				t.Errorf("%s security page (%d min, %d days) still says %q", c.lang, c.minutes, c.days, s)
			}
		}
	}
	for lang, want := range map[string]string{"en": "Remember this browser for 2 days", "de": "Diesen Browser 2 Tage lang merken", "ru": "Запомнить этот браузер на 2 дня"} {
		p := mfaPage{common: common{Lang: lang, tr: h.cfg.I18n, static: h.static[lang], Languages: h.languages},
			Methods: []string{"totp"}, RememberDays: 2}
		tpl, err := h.folded["mfa"][lang]()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := tpl.ExecuteTemplate(&b, "layout", p); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), want) {
			t.Errorf("%s second-step page lacks %q", lang, want)
		}
	}
}
