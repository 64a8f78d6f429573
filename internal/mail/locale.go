package mail

import (
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/geo"
)

// The helpers below localize the few values templates cannot spell out themselves. Dates
// and durations come from geo, which holds CLDR's month names and the UI's wording too.

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
