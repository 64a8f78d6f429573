package geo

import (
	"strings"
	"testing"
	"time"
	"unicode"
)

func TestFormatDateTime(t *testing.T) {
	at := time.Date(2026, 12, 4, 14, 17, 0, 0, time.UTC)
	tests := []struct{ id, tz, lang, want string }{
		{"long", "Europe/Berlin", "de", "4. Dezember 2026, 15:17 UTC+1"},
		{"long", "Europe/Moscow", "ru", "4 декабря 2026\u202fг., 17:17 UTC+3"},
		{"long", "Asia/Kolkata", "en", "4 December 2026, 19:47 UTC+5:30"},
		{"dmy-dot", "America/Sao_Paulo", "de", "04.12.2026, 11:17 UTC-3"},
		{"ymd", "", "en", "2026-12-04, 14:17 UTC"},
	}
	for _, tt := range tests {
		if got := FormatDateTime(at, tt.id, tt.tz, tt.lang); got != tt.want {
			t.Errorf("FormatDateTime(%s, %s, %s) = %q, want %q", tt.id, tt.tz, tt.lang, got, tt.want)
		}
	}
	if got := FormatClock(at, "Europe/Berlin"); got != "15:17 UTC+1" {
		t.Errorf("FormatClock = %q", got)
	}
}

func TestRelativeTime(t *testing.T) {
	tests := []struct {
		d          time.Duration
		lang, want string
	}{
		{15 * time.Minute, "en", "in 15 minutes"},
		{15 * time.Minute, "de", "in 15 Minuten"},
		{15 * time.Minute, "ru", "через 15 минут"},
		{14*time.Minute + 10*time.Second, "ru", "через 15 минут"}, // rounded up: never too early
		{21 * time.Minute, "ru", "через 21 минуту"},
		{3 * time.Minute, "ru", "через 3 минуты"},
		{time.Minute, "de", "in 1 Minute"},
		{20 * time.Second, "en", "in 1 minute"},
		{90 * time.Minute, "de", "in 90 Minuten"},
		{4 * time.Hour, "de", "in 4 Stunden"},
		{4 * time.Hour, "ru", "через 4 часа"},
		{3 * 24 * time.Hour, "ru", "через 3 дня"},
		{-5 * time.Minute, "de", "vor 5 Minuten"},
		{-25 * time.Hour, "ru", "25 часов назад"},
		{-10 * time.Second, "ru", "сейчас"},
		{0, "de", "jetzt"},
		{15 * time.Minute, "fr", "in 15 minutes"},
	}
	for _, tt := range tests {
		if got := RelativeTime(tt.d, tt.lang); got != tt.want {
			t.Errorf("RelativeTime(%v, %s) = %q, want %q", tt.d, tt.lang, got, tt.want)
		}
	}
}

func TestZoneLabels(t *testing.T) {
	d := newData(t)
	winter := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	summer := time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		tz, lang string
		at       time.Time
		want     string
	}{
		{"Europe/Berlin", "de", winter, "(UTC+01:00) Berlin"},
		{"Europe/Berlin", "de", summer, "(UTC+02:00) Berlin"},
		{"Europe/Moscow", "de", winter, "(UTC+03:00) Moskau"},
		{"Europe/Moscow", "ru", winter, "(UTC+03:00) Москва"},
		{"Asia/Kolkata", "ru", winter, "(UTC+05:30) Калькутта"}, // CLDR files it as Asia/Calcutta
		{"America/Argentina/Buenos_Aires", "ru", winter, "(UTC-03:00) Буэнос-Айрес"},
		{"America/New_York", "en", winter, "(UTC-05:00) New York"},
		{"UTC", "de", winter, "(UTC) Koordinierte Weltzeit"},
		{"Etc/GMT-3", "en", winter, "(UTC+03:00) Etc/GMT-3"}, // valid, but not offered
	}
	for _, tt := range tests {
		if got := d.ZoneLabel(tt.tz, tt.lang, tt.at); got != tt.want {
			t.Errorf("ZoneLabel(%s, %s) = %q, want %q", tt.tz, tt.lang, got, tt.want)
		}
	}
	for _, lang := range nameLangs {
		zs := d.TimeZonesIn(lang, winter)
		if len(zs) != len(d.TimeZones()) {
			t.Fatalf("%s: %d zones, want %d", lang, len(zs), len(d.TimeZones()))
		}
		if !strings.HasPrefix(zs[0].Label, "(UTC-") || !strings.HasPrefix(zs[len(zs)-1].Label, "(UTC+14:00)") {
			t.Errorf("%s: not ordered west to east: %q … %q", lang, zs[0].Label, zs[len(zs)-1].Label)
		}
		seen := map[string]string{}
		prev := -1 << 30
		for _, z := range zs {
			_, off := winter.In(location(z.ID)).Zone()
			if off < prev {
				t.Errorf("%s: %s (%q) out of offset order", lang, z.ID, z.Label)
			}
			prev = off
			if other, dup := seen[z.Label]; dup {
				t.Errorf("%s: %s and %s are both %q", lang, other, z.ID, z.Label)
			}
			seen[z.Label] = z.ID
		}
	}
}

// TestZoneCityCoverage fails when an offered zone lacks its city in Russian (Cyrillic
// for every zone) or German (spot checks of names German spells its own way; the rest
// are the same as in English, as CLDR has them).
func TestZoneCityCoverage(t *testing.T) {
	d := newData(t)
	for _, z := range d.TimeZones() {
		if z == "UTC" {
			continue
		}
		ru := d.ZoneCity(z, "ru")
		if !hasScript(ru, unicode.Cyrillic) {
			t.Errorf("%s: Russian city %q is not in Cyrillic", z, ru)
		}
		if d.ZoneCity(z, "de") == "" || d.ZoneCity(z, "en") == "" || d.ZoneCity(z, "en") == z {
			t.Errorf("%s: no English or German city", z)
		}
	}
	for tz, want := range map[string]string{"Europe/Vienna": "Wien", "Asia/Tokyo": "Tokio", "Europe/Kyiv": "Kiew", "Europe/Rome": "Rom", "Europe/Moscow": "Moskau"} {
		if got := d.ZoneCity(tz, "de"); got != want {
			t.Errorf("ZoneCity(%s, de) = %q, want %q", tz, got, want)
		}
	}
}

// TestMonthNameCoverage fails when a month lacks its German or Russian name.
func TestMonthNameCoverage(t *testing.T) {
	want := map[string][2]string{"de": {"Januar", "Dezember"}, "ru": {"января", "декабря"}, "en": {"January", "December"}}
	for lang, w := range want {
		seen := map[string]bool{}
		for m := time.January; m <= time.December; m++ {
			n := MonthName(m, lang)
			if n == "" || seen[n] {
				t.Errorf("%s: month %d is %q", lang, m, n)
			}
			seen[n] = true
			if lang == "ru" && !hasScript(n, unicode.Cyrillic) {
				t.Errorf("ru: month %d is %q", m, n)
			}
		}
		if MonthName(time.January, lang) != w[0] || MonthName(time.December, lang) != w[1] {
			t.Errorf("%s: months %q … %q", lang, MonthName(time.January, lang), MonthName(time.December, lang))
		}
	}
	for _, lang := range nameLangs {
		for _, k := range []string{"date.long", "datetime", "utc", "now", "minute.future.other", "hour.future.other", "day.future.other", "minute.past.other"} {
			if v, ok := cldrWords()[lang][k]; !ok || v == "" {
				t.Errorf("cldr.tsv: %s lacks %s", lang, k)
			}
		}
	}
}

// regionCoverage are the countries whose regions must all have a Russian name: Russia,
// its neighbours and the countries our people most often live in. Germany, Austria and
// Switzerland's ISO names are German already.
var regionCoverage = []string{"RU", "UA", "BY", "KZ", "DE", "AT", "CH", "GB", "US"}

// TestRegionNameCoverage fails when a region of those countries lacks its Russian name,
// or two regions of one country share a name in a language.
func TestRegionNameCoverage(t *testing.T) {
	d := newData(t)
	for _, c := range regionCoverage {
		for _, r := range d.RegionsIn(c, "ru") {
			if !hasScript(r.Name, unicode.Cyrillic) {
				t.Errorf("%s-%s: Russian name %q is not in Cyrillic", c, r.Code, r.Name)
			}
		}
	}
	for _, c := range []string{"DE", "AT", "CH"} {
		for _, r := range d.RegionsIn(c, "de") {
			if hasScript(r.Name, unicode.Cyrillic) || r.Name == "" {
				t.Errorf("%s-%s: German name %q", c, r.Code, r.Name)
			}
		}
	}
	if got := d.RegionName("RU", "PRI", "ru"); got != "Приморский край" {
		t.Errorf("RegionName(RU-PRI, ru) = %q", got)
	}
	if got := d.RegionName("BY", "VI", "de"); got != "Oblast Wizebsk" {
		t.Errorf("RegionName(BY-VI, de) = %q", got)
	}
	for _, lang := range nameLangs {
		for c := range d.t().regions {
			seen := map[string]bool{}
			for _, r := range d.RegionsIn(c, lang) {
				if seen[r.Name] {
					t.Errorf("%s: two regions of %s are %q", lang, c, r.Name)
				}
				seen[r.Name] = true
			}
		}
	}
}

func hasScript(s string, script *unicode.RangeTable) bool {
	for _, r := range s {
		if unicode.Is(script, r) {
			return true
		}
	}
	return false
}
