package geo

import (
	"strconv"
	"time"
)

// DateFormat is a date format a person can choose. ID is what a profile stores, so it
// never changes; Layout is the Go layout for the numeric formats and, for the one with a
// month name, the English form (German and Russian need their own, see FormatDateIn).
type DateFormat struct {
	ID     string
	Layout string
}

// DefaultDateFormat is used until a person chooses: ISO 8601 is the one numeric form no
// reader misreads, whichever convention they grew up with.
const DefaultDateFormat = "ymd"

// longFormat is the ID of the format with a written-out month.
const longFormat = "long"

// dateFormats are the choices, most common conventions first after ISO.
var dateFormats = [...]DateFormat{
	{ID: "ymd", Layout: "2006-01-02"},
	{ID: "dmy-dot", Layout: "02.01.2006"},
	{ID: "dmy-slash", Layout: "02/01/2006"},
	{ID: "mdy-slash", Layout: "01/02/2006"},
	{ID: longFormat, Layout: "2 January 2006"},
}

// monthNames are month names as they follow a day number: German uses the nominative,
// Russian the genitive ("2 января").
var monthNames = map[string][12]string{
	"de": {"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"},
	"ru": {"января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября", "ноября", "декабря"},
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

// FormatDateIn is FormatDate with month names in lang (de or ru; others get English) for
// the written-out format: "2. Januar 2006", "2 января 2006 г.". Numeric formats do not
// depend on lang.
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
	day, year := strconv.Itoa(t.Day()), strconv.Itoa(t.Year())
	switch lang := nameLang(lang); lang {
	case "de":
		return day + ". " + monthNames[lang][t.Month()-1] + " " + year
	case "ru":
		return day + " " + monthNames[lang][t.Month()-1] + " " + year + " г."
	}
	return t.Format(l)
}
