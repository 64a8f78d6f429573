package ui

import (
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// TestLockoutText checks the lockout answer in each language: when it ends relative to
// now ("in 15 minutes", never a bare "15:17 UTC" that is wrong for everyone elsewhere)
// and, for a signed-in person, the clock time in their zone.
func TestLockoutText(t *testing.T) {
	now := time.Date(2026, 12, 4, 14, 2, 0, 0, time.UTC)
	h := &Handler{cfg: Config{I18n: newBundle(t), Now: func() time.Time { return now }}}
	until := now.Add(15 * time.Minute)
	berlin := &storage.User{ZoneInfo: "Europe/Berlin", DateFormat: "long"}
	moscow := &storage.User{ZoneInfo: "Europe/Moscow", DateFormat: "long"}
	tests := []struct {
		lang  string
		until time.Time
		u     *storage.User
		want  string
	}{
		{"en", until, nil, "Too many failed sign-in attempts. Try again in 15 minutes, or reset your password."},
		{"de", until, nil, "Zu viele fehlgeschlagene Anmeldeversuche. Versuchen Sie es in 15 Minuten erneut oder setzen Sie Ihr Passwort zurück."},
		{"ru", until, nil, "Слишком много неудачных попыток входа. Повторите попытку через 15 минут или сбросьте пароль."},
		{"de", until, berlin, "Zu viele fehlgeschlagene Anmeldeversuche. Versuchen Sie es in 15 Minuten (ab 15:17 UTC+1) erneut oder setzen Sie Ihr Passwort zurück."},
		{"ru", until, moscow, "Слишком много неудачных попыток входа. Повторите попытку через 15 минут (после 17:17 UTC+3) или сбросьте пароль."},
		// A lock into another day names the date, in the person's format and language.
		{"de", now.Add(24 * time.Hour), berlin, "Zu viele fehlgeschlagene Anmeldeversuche. Versuchen Sie es in 24 Stunden (ab 5. Dezember 2026, 15:02 UTC+1) erneut oder setzen Sie Ihr Passwort zurück."},
	}
	for _, tt := range tests {
		if got := h.lockoutText(tt.lang, tt.until, tt.u); got != tt.want {
			t.Errorf("lockoutText(%s, %v) =\n  %q\nwant\n  %q", tt.lang, tt.u != nil, got, tt.want)
		}
	}
}
