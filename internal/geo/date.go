package geo

import (
	"time"
)

// DateFormat is a date format a person can choose. ID is what a profile stores, so it
// never changes; Layout is the Go layout for the numeric formats and, for the one with a
// month name, the English form (German and Russian need their own, see FormatDateIn).
type DateFormat struct {
	ID     string
	Layout string
	// Pattern spells the numeric formats in placeholders ("DD/MM/YYYY"), so 04/12 and 12/04
	// can be told apart; the UI translates it ("TT/MM/JJJJ"). Empty for the written-out one.
	Pattern string
}

// DefaultDateFormat is used until a person chooses: ISO 8601 is the one numeric form no
// reader misreads, whichever convention they grew up with.
const DefaultDateFormat = "ymd"

// longFormat is the ID of the format with a written-out month.
const longFormat = "long"

// dateFormats are the choices, most common conventions first after ISO.
var dateFormats = [...]DateFormat{
	{ID: "ymd", Layout: "2006-01-02", Pattern: "YYYY-MM-DD"},
	{ID: "dmy-dot", Layout: "02.01.2006", Pattern: "DD.MM.YYYY"},
	{ID: "dmy-slash", Layout: "02/01/2006", Pattern: "DD/MM/YYYY"},
	{ID: "mdy-slash", Layout: "01/02/2006", Pattern: "MM/DD/YYYY"},
	{ID: longFormat, Layout: "2 January 2006"},
}

// DateFormats lists the formats a person can choose from.
func (d *Data) DateFormats() []DateFormat {
	return append([]DateFormat(nil), dateFormats[:]...)
}

// ValidDateFormat reports whether id names one of DateFormats.
func (d *Data) ValidDateFormat(id string) bool {
	_, ok := layout(id)
	return ok
}

func layout(id string) (string, bool) {
	for _, f := range dateFormats {
		if f.ID == id {
			return f.Layout, true
		}
	}
	return "", false
}

// FormatDate writes the calendar date of t as seen in zone tz, in format id, in English.
// An unknown id falls back to DefaultDateFormat and an unknown tz to UTC, because a stale
// stored preference must not break a page. It needs no Data: formats are fixed.
func FormatDate(t time.Time, id, tz string) string {
	return FormatDateIn(t, id, tz, "en")
}

// FormatDateIn is FormatDate with the written-out format in lang's words and CLDR's
// long pattern for it (de and ru; others get English): "4. Dezember 2026", "4 декабря
// 2026 г.", "4 December 2026". Numeric formats do not depend on lang.
func FormatDateIn(t time.Time, id, tz, lang string) string {
	l, ok := layout(id)
	if !ok {
		id = DefaultDateFormat
		l, _ = layout(id)
	}
	t = t.In(location(tz))
	if id != longFormat {
		return t.Format(l)
	}
	return formatPattern(t, word(lang, "date.long"), lang)
}
