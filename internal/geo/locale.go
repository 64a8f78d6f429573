package geo

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/collate"
	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
)

// cldrWords are the date words of data/cldr.tsv, lang → key → value. They are read on
// first use rather than in New because FormatDate and friends need no Data; the file is
// embedded, so a broken one fails the package tests, never a running server.
var cldrWords = sync.OnceValue(func() map[string]map[string]string {
	rows, err := readTSV("cldr.tsv", 3)
	if err != nil {
		panic(err)
	}
	m := map[string]map[string]string{}
	for _, r := range rows {
		if m[r[0]] == nil {
			m[r[0]] = map[string]string{}
		}
		m[r[0]][r[1]] = r[2]
	}
	return m
})

// word is CLDR's value for key in lang, or the English one.
func word(lang, key string) string {
	if v, ok := cldrWords()[nameLang(lang)][key]; ok {
		return v
	}
	return cldrWords()["en"][key]
}

// MonthName is the month's name as it follows a day number in lang: "Dezember",
// "декабря" (Russian uses the genitive there).
func MonthName(m time.Month, lang string) string {
	return word(lang, "month."+strconv.Itoa(int(m)))
}

// formatPattern writes t with a CLDR date pattern, understanding the fields the long
// patterns of our languages use (d, dd, M, MM, MMMM, y, yyyy) and quoted literals ("'г'.").
func formatPattern(t time.Time, pattern, lang string) string {
	var b strings.Builder
	for i := 0; i < len(pattern); {
		c := pattern[i]
		if c == '\'' {
			end := strings.IndexByte(pattern[i+1:], '\'')
			if end < 0 {
				b.WriteString(pattern[i+1:])
				break
			}
			if end == 0 {
				b.WriteByte('\'') // '' is a literal quote
			}
			b.WriteString(pattern[i+1 : i+1+end])
			i += end + 2
			continue
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			b.WriteByte(c)
			i++
			continue
		}
		n := 1
		for i+n < len(pattern) && pattern[i+n] == c {
			n++
		}
		switch {
		case c == 'd' && n == 1:
			b.WriteString(strconv.Itoa(t.Day()))
		case c == 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case c == 'M' && n >= 3:
			b.WriteString(MonthName(t.Month(), lang))
		case c == 'M' && n == 2:
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case c == 'M':
			b.WriteString(strconv.Itoa(int(t.Month())))
		case c == 'y':
			b.WriteString(strconv.Itoa(t.Year()))
		default:
			b.WriteString(pattern[i : i+n]) // a field our patterns do not use
		}
		i += n
	}
	return b.String()
}

// FormatDateTime writes t as date and time in zone tz: the date as FormatDateIn does, the
// time on the 24-hour clock all three languages use, and the zone's UTC offset, so a time
// is never misread by someone who reads it elsewhere: "4. Dezember 2026, 15:17 UTC+1".
func FormatDateTime(t time.Time, id, tz, lang string) string {
	lt := t.In(location(tz))
	return strings.NewReplacer("{1}", FormatDateIn(t, id, tz, lang), "{0}", lt.Format("15:04")+" "+shortOffset(lt)).
		Replace(word(lang, "datetime"))
}

// FormatClock writes the time of day of t in zone tz with its offset: "15:17 UTC+1".
func FormatClock(t time.Time, tz string) string {
	lt := t.In(location(tz))
	return lt.Format("15:04") + " " + shortOffset(lt)
}

// shortOffset is "UTC", "UTC+1", "UTC-3", "UTC+5:30".
func shortOffset(t time.Time) string {
	_, off := t.Zone()
	if off == 0 {
		return "UTC"
	}
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	s := "UTC" + sign + strconv.Itoa(off/3600)
	if m := off % 3600 / 60; m != 0 {
		s += fmt.Sprintf(":%02d", m)
	}
	return s
}

// longOffset is "UTC+01:00", "UTC-03:00": fixed width, for lists sorted by offset.
func longOffset(off int) string {
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	return fmt.Sprintf("UTC%s%02d:%02d", sign, off/3600, off%3600/60)
}

// pluralKey is the CLDR plural category of n in lang, as cldr.tsv's keys spell it.
func pluralKey(lang string, n int) string {
	switch plural.Cardinal.MatchPlural(language.Make(nameLang(lang)), n, 0, 0, 0, 0) {
	case plural.One:
		return "one"
	case plural.Few:
		return "few"
	case plural.Many:
		return "many"
	}
	return "other"
}

// RelativeTime says how far d lies ahead (positive) or back (negative) in lang, with
// CLDR's words and plural forms: "in 15 minutes", "in 2 Stunden", "3 дня назад". Under
// two hours it counts minutes, under two days hours, else days. Times ahead are rounded
// up, so "try again in 15 minutes" is never too early; times back are rounded down.
// Less than a minute either way is "now".
func RelativeTime(d time.Duration, lang string) string {
	dir := "future"
	if d < 0 {
		dir, d = "past", -d
	}
	if d < time.Minute && (dir == "past" || d <= 0) {
		return word(lang, "now")
	}
	round := func(unit time.Duration) int {
		if dir == "future" {
			return int((d + unit - 1) / unit)
		}
		return int(d / unit)
	}
	unit, n := "minute", round(time.Minute)
	switch {
	case d >= 48*time.Hour:
		unit, n = "day", round(24*time.Hour)
	case d >= 2*time.Hour:
		unit, n = "hour", round(time.Hour)
	}
	p := word(lang, unit+"."+dir+"."+pluralKey(lang, n))
	if p == "" {
		p = word(lang, unit+"."+dir+".other")
	}
	return strings.ReplaceAll(p, "{0}", strconv.Itoa(n))
}

// Zone is a time zone to choose from: the IANA id a profile stores and a label in the
// page's language, "(UTC+01:00) Berlin".
type Zone struct {
	ID    string
	Label string
}

func (d *tables) loadZoneCities() error {
	rows, err := readTSV("zonecities.tsv", 4)
	if err != nil {
		return err
	}
	d.zoneCities = map[string][3]string{}
	for _, r := range rows {
		if !d.zoneSet[r[0]] {
			return fmt.Errorf("geo: zonecities.tsv: %q is not in zones.tsv", r[0])
		}
		if r[1] == "" || r[2] == "" || r[3] == "" {
			return fmt.Errorf("geo: zonecities.tsv: %q lacks a name", r[0])
		}
		d.zoneCities[r[0]] = [3]string{r[1], r[2], r[3]}
	}
	for z := range d.zoneSet {
		if _, ok := d.zoneCities[z]; !ok && z != "UTC" {
			return fmt.Errorf("geo: zonecities.tsv lacks %q: re-run gen.go with -cldr", z)
		}
	}
	return nil
}

// ZoneCity is the city or place that names zone tz, in lang: "Moskau" for Europe/Moscow
// in German. UTC is CLDR's name for it; a zone outside the list keeps its id.
func (d *tables) ZoneCity(tz, lang string) string {
	if tz == "UTC" || tz == "" {
		return word(lang, "utc")
	}
	names, ok := d.zoneCities[tz]
	if !ok {
		return tz
	}
	switch nameLang(lang) {
	case "de":
		return names[1]
	case "ru":
		return names[2]
	}
	return names[0]
}

// ZoneLabel is tz's city in lang after its UTC offset at the instant at: "(UTC+01:00)
// Berlin" in winter, "(UTC+02:00) Berlin" in summer; UTC itself is "(UTC) …".
func (d *tables) ZoneLabel(tz, lang string, at time.Time) string {
	if tz == "UTC" || tz == "" {
		return "(UTC) " + d.ZoneCity(tz, lang)
	}
	_, off := at.In(location(tz)).Zone()
	return "(" + longOffset(off) + ") " + d.ZoneCity(tz, lang)
}

// TimeZonesIn lists TimeZones with labels in lang, ordered as a person scans them: by
// UTC offset at the instant at, west to east, and by city name within one offset.
func (d *tables) TimeZonesIn(lang string, at time.Time) []Zone {
	type z struct {
		Zone
		off  int
		city string
	}
	list := make([]z, 0, len(d.zones))
	for _, id := range d.zones {
		_, off := at.In(location(id)).Zone()
		list = append(list, z{Zone{id, d.ZoneLabel(id, lang, at)}, off, d.ZoneCity(id, lang)})
	}
	coll := collate.New(language.Make(nameLang(lang)))
	sort.Slice(list, func(i, j int) bool {
		if list[i].off != list[j].off {
			return list[i].off < list[j].off
		}
		return less(coll, list[i].city, list[j].city, list[i].ID, list[j].ID)
	})
	out := make([]Zone, len(list))
	for i, x := range list {
		out[i] = x.Zone
	}
	return out
}
