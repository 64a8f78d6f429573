package geo

import (
	"fmt"
	"time"
)

// Durations are hand-written: three languages and three units in the accusative that
// "valid for" takes need a page of code, not CLDR's unit tables.

// FormatDuration spells d in lang in the form that follows "valid for" / "ist … gültig" /
// "действительна …", in mails and pages alike. d is first rounded to the minute (a link's
// time left, computed a few milliseconds after its period began, is its whole period);
// then it is whole days from two days on (or exactly one), whole hours from two hours on
// (or exactly one), else minutes. Days and hours are rounded down, so a text never promises
// more time than there is: 71 h 30 min left is "2 days", not "3 days" nor "4290 minutes".
func FormatDuration(d time.Duration, lang string) string {
	d = d.Round(time.Minute)
	var n int64
	var unit int // 0 day, 1 hour, 2 minute
	const day = 24 * time.Hour
	switch {
	case d >= 2*day || d == day:
		n, unit = int64(d/day), 0
	case d >= 2*time.Hour || d == time.Hour:
		n, unit = int64(d/time.Hour), 1
	default:
		n, unit = max(int64(d/time.Minute), 1), 2
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
