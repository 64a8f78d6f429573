package mail

import (
	"fmt"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/geo"
)

// The helpers below localize the few values templates cannot spell out themselves. Dates
// come from geo, which holds CLDR's month names; durations are hand-written because three
// languages and three units need a page of code, not a dependency.

// formatDuration spells d in lang in the form the templates put after "valid for" /
// "ist … gültig" / "действительна …": whole days, else whole hours, else minutes (rounded
// up, so a mail never promises more time than there is).
func formatDuration(lang string, d time.Duration) string {
	var n int64
	var unit int // 0 day, 1 hour, 2 minute
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		n, unit = int64(d/(24*time.Hour)), 0
	case d >= time.Hour && d%time.Hour == 0:
		n, unit = int64(d/time.Hour), 1
	default:
		n, unit = int64((d+time.Minute-1)/time.Minute), 2
	}
	switch lang {
	case "de":
		// Accusative of duration: "ist einen Tag / eine Stunde / 5 Minuten gültig".
		one := [...]string{"einen Tag", "eine Stunde", "eine Minute"}
		many := [...]string{"Tage", "Stunden", "Minuten"}
		if n == 1 {
			return one[unit]
		}
		return fmt.Sprintf("%d %s", n, many[unit])
	case "ru":
		// Accusative of duration: "действительна 1 день / 2 дня / 5 дней".
		forms := [...][3]string{
			{"день", "дня", "дней"},
			{"час", "часа", "часов"},
			{"минуту", "минуты", "минут"},
		}
		return fmt.Sprintf("%d %s", n, forms[unit][russianPlural(n)])
	default:
		one := [...]string{"day", "hour", "minute"}
		if n == 1 {
			return "1 " + one[unit]
		}
		return fmt.Sprintf("%d %ss", n, one[unit])
	}
}

// russianPlural picks the form for n: 0 for 1, 21, 31…; 1 for 2–4, 22–24…; 2 otherwise
// (5–20, 25–30, 11–14…).
func russianPlural(n int64) int {
	if n < 0 {
		n = -n
	}
	switch {
	case n%10 == 1 && n%100 != 11:
		return 0
	case n%10 >= 2 && n%10 <= 4 && (n%100 < 12 || n%100 > 14):
		return 1
	default:
		return 2
	}
}

// formatTime spells t in the zone named tz (UTC when empty or unknown) with the date in
// the person's format (written out, with CLDR's month names, when none was chosen) and the
// zone's UTC offset, so that "until 14:30" cannot be misread: "4. Dezember 2026, 15:17 Uhr
// (UTC+1)".
func formatTime(lang string, t time.Time, tz, dateFormat string) string {
	if dateFormat == "" {
		dateFormat = "long"
	}
	date := geo.FormatDateIn(t, dateFormat, tz, lang)
	clock, offset, _ := strings.Cut(geo.FormatClock(t, tz), " ")
	if lang == "de" {
		clock += " Uhr"
	}
	return date + ", " + clock + " (" + offset + ")"
}

// factorNames are the second-factor identifiers the account code uses, in en, de and ru.
// A fixed table (never written to), built once rather than on every message.
var factorNames = map[string][3]string{
	"totp":           {"authenticator app", "Authenticator-App", "приложение-аутентификатор"},
	"webauthn":       {"security key", "Sicherheitsschlüssel", "ключ безопасности"},
	"passkey":        {"passkey", "Passkey", "ключ доступа (passkey)"},
	"recovery_codes": {"recovery codes", "Wiederherstellungscodes", "резервные коды"},
	"email":          {"codes by email", "Codes per E-Mail", "коды по электронной почте"},
	"phone":          {"phone number for codes by text message", "Telefonnummer für Codes per SMS", "номер телефона для кодов в SMS"},
}

// factorName translates the second-factor identifiers the account code uses; anything
// else (a device name a user chose, say) is shown unchanged.
func factorName(lang, factor string) string {
	if factor == "" { // most messages name no factor
		return factor
	}
	n, ok := factorNames[strings.ToLower(strings.TrimSpace(factor))]
	if !ok {
		return factor
	}
	switch lang {
	case "de":
		return n[1]
	case "ru":
		return n[2]
	default:
		return n[0]
	}
}
