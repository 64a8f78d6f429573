package geo

import (
	"archive/zip"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newData(t *testing.T) *Data {
	t.Helper()
	d, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestValidCountry(t *testing.T) {
	d := newData(t)
	for _, c := range []string{"DE", "RU", "US", "GB", "CH", "AT", "XK", "AQ", "PR"} {
		if !d.ValidCountry(c) {
			t.Errorf("ValidCountry(%q) = false", c)
		}
	}
	// Lower case, alpha-3, CLDR's own groupings and unassigned codes are not countries.
	for _, c := range []string{"", "de", "DEU", "D", "EU", "UN", "ZZ", "QO", "XX", "UK", " DE"} {
		if d.ValidCountry(c) {
			t.Errorf("ValidCountry(%q) = true", c)
		}
	}
	if n := len(d.Countries("en")); n != 250 {
		t.Errorf("%d countries, want 249 from ISO 3166-1 plus XK", n)
	}
}

func TestCountryNames(t *testing.T) {
	d := newData(t)
	tests := []struct{ code, lang, want string }{
		{"DE", "en", "Germany"},
		{"DE", "de", "Deutschland"},
		{"DE", "ru", "Германия"},
		{"DE", "de-CH", "Deutschland"},
		{"DE", "fr", "Germany"}, // languages the UI lacks get English
		{"DE", "!!", "Germany"},
		{"AT", "de", "Österreich"},
		{"MK", "en", "North Macedonia"}, // overrides x/text's outdated CLDR name
		{"SZ", "ru", "Эсватини"},
		{"XK", "de", "Kosovo"},
		{"ZZ", "en", ""},
	}
	for _, tt := range tests {
		if got := d.CountryName(tt.code, tt.lang); got != tt.want {
			t.Errorf("CountryName(%q, %q) = %q, want %q", tt.code, tt.lang, got, tt.want)
		}
	}
	for _, lang := range nameLangs {
		cs := d.Countries(lang)
		seen := map[string]bool{}
		for _, c := range cs {
			if c.Name == "" || seen[c.Code] {
				t.Errorf("%s: bad or duplicate entry %+v", lang, c)
			}
			seen[c.Code] = true
			if got := d.CountryName(c.Code, lang); got != c.Name {
				t.Errorf("%s: CountryName(%s) = %q, list says %q", lang, c.Code, got, c.Name)
			}
		}
	}
}

func index(cs []Country, code string) int {
	for i, c := range cs {
		if c.Code == code {
			return i
		}
	}
	return -1
}

func TestCountriesSortedByLocalizedName(t *testing.T) {
	d := newData(t)
	// Collation, not byte order: "Österreich" sorts among the O's, before "Polen", while
	// byte order would put it after "Zypern".
	de := d.Countries("de")
	if o, p, z := index(de, "AT"), index(de, "PL"), index(de, "CY"); !(o < p && p < z) {
		t.Errorf("de order: Österreich %d, Polen %d, Zypern %d", o, p, z)
	}
	if de[0].Code != "AF" {
		t.Errorf("de starts with %+v, want Afghanistan", de[0])
	}
	ru := d.Countries("ru")
	if a, b := index(ru, "AU"), index(ru, "AT"); a > b { // Австралия < Австрия
		t.Errorf("ru: Австралия at %d after Австрия at %d", a, b)
	}
	// Callers get copies: editing one must not change the next answer.
	de[0].Name = "changed"
	if d.Countries("de")[0].Name == "changed" {
		t.Error("Countries returned the shared table")
	}
}

func TestRegions(t *testing.T) {
	d := newData(t)
	de := d.Regions("DE")
	if len(de) != 16 {
		t.Fatalf("DE has %d regions, want the 16 Länder", len(de))
	}
	found := false
	for _, r := range de {
		if r.Code == "BY" && r.Name == "Bayern" {
			found = true
		}
	}
	if !found {
		t.Errorf("DE regions lack BY Bayern: %v", de)
	}
	if de[0].Name != "Baden-Württemberg" {
		t.Errorf("DE regions not sorted by name: %v", de)
	}
	if !d.HasRegions("DE") || d.HasRegions("PR") || d.HasRegions("ZZ") {
		t.Error("HasRegions wrong")
	}
	if rs := d.Regions("PR"); rs != nil {
		t.Errorf("Puerto Rico (no subdivisions) has regions %v", rs)
	}
	// Only the first level: the United Kingdom's four nations, not its 200 districts.
	var gb []string
	for _, r := range d.Regions("GB") {
		gb = append(gb, r.Code+" "+r.Name)
	}
	if got := strings.Join(gb, ", "); got != "ENG England, NIR Northern Ireland, SCT Scotland, WLS Wales" {
		t.Errorf("GB regions = %s", got)
	}
	if n := len(d.Regions("FR")); n < 18 || n > 30 {
		t.Errorf("FR has %d regions; want its regions and overseas collectivities, not departments", n)
	}
}

func TestLocalizedRegions(t *testing.T) {
	d := newData(t)
	tests := []struct{ country, region, lang, want string }{
		{"DE", "BY", "", "Bayern"},
		{"DE", "BY", "ru", "Бавария"},
		{"RU", "MOW", "", "Moskva"},
		{"RU", "MOW", "ru", "Москва"},
		{"RU", "MOW", "de", "Moskau"},
		{"RU", "MOW", "en", "Moskva"},
		{"GB", "SCT", "de", "Schottland"},
		{"US", "CA", "ru", "Калифорния"},
		// iso-codes' Russian has "Вашингтон" for both DC and the state; gen.go's
		// regionFixes name DC itself, so the two remain distinguishable.
		{"US", "WA", "ru", "Вашингтон"},
		{"US", "DC", "ru", "Округ Колумбия"},
		{"DE", "XX", "de", ""},
		{"DE", "", "de", ""},
	}
	for _, tt := range tests {
		if got := d.RegionName(tt.country, tt.region, tt.lang); got != tt.want {
			t.Errorf("RegionName(%q, %q, %q) = %q, want %q", tt.country, tt.region, tt.lang, got, tt.want)
		}
	}
	for _, lang := range []string{"", "en", "de", "ru"} {
		for _, c := range d.Countries("en") {
			rs := d.RegionsIn(c.Code, lang)
			names := map[string]bool{}
			for _, r := range rs {
				if names[r.Name] {
					t.Errorf("%s %q: two regions named %q", c.Code, lang, r.Name)
				}
				names[r.Name] = true
				if !d.ValidRegion(c.Code, r.Code) {
					t.Errorf("ValidRegion(%s, %s) = false for a listed region", c.Code, r.Code)
				}
			}
		}
	}
}

func TestValidRegion(t *testing.T) {
	d := newData(t)
	tests := []struct {
		country, region string
		want            bool
	}{
		{"DE", "BY", true},
		{"DE", "", false},      // Germany has Länder: one must be chosen
		{"DE", "DE-BY", false}, // the stored form is the part after the hyphen
		{"DE", "by", false},
		{"DE", "CA", false},
		{"US", "CA", true},
		{"PR", "", true},   // no subdivisions: no region
		{"PR", "X", false}, // and nothing else either
		{"XK", "", true},
		{"ZZ", "", false}, // not a country
		{"", "", false},
	}
	for _, tt := range tests {
		if got := d.ValidRegion(tt.country, tt.region); got != tt.want {
			t.Errorf("ValidRegion(%q, %q) = %v, want %v", tt.country, tt.region, got, tt.want)
		}
	}
}

func TestTimeZones(t *testing.T) {
	d := newData(t)
	zs := d.TimeZones()
	if len(zs) < 300 {
		t.Fatalf("only %d zones", len(zs))
	}
	for i, z := range zs {
		if i > 0 && zs[i-1] >= z {
			t.Fatalf("zones not sorted and unique at %q", z)
		}
		if !d.ValidTimeZone(z) {
			t.Errorf("listed zone %q is not valid", z)
		}
	}
	for _, z := range []string{"UTC", "Europe/Berlin", "Europe/Moscow", "America/Argentina/Buenos_Aires", "Etc/GMT-3", "Europe/Kiev"} {
		if !d.ValidTimeZone(z) {
			t.Errorf("ValidTimeZone(%q) = false", z)
		}
	}
	for _, z := range []string{"", "Local", "Europe/Atlantis", "../../etc/passwd", "/etc/localtime", "Europe/../UTC", "zone.tab", "Europe/Berlin\x00", strings.Repeat("A", 100)} {
		if d.ValidTimeZone(z) {
			t.Errorf("ValidTimeZone(%q) = true", z)
		}
	}
}

// TestZonesInGoTzdata checks every offered zone against the zip Go's tzdata is built
// from, so the list works on a host without /usr/share/zoneinfo, where only the copy
// embedded through time/tzdata is there.
func TestZonesInGoTzdata(t *testing.T) {
	root, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Skipf("go env GOROOT: %v", err)
	}
	zr, err := zip.OpenReader(filepath.Join(strings.TrimSpace(string(root)), "lib", "time", "zoneinfo.zip"))
	if err != nil {
		t.Skipf("Go's zoneinfo.zip: %v", err)
	}
	defer zr.Close()
	known := map[string]*zip.File{}
	for _, f := range zr.File {
		known[f.Name] = f
	}
	for _, z := range newData(t).TimeZones() {
		f := known[z]
		if f == nil {
			t.Errorf("%q is not in Go's tzdata", z)
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, f.UncompressedSize64)
		_, err = io.ReadFull(rc, b)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := time.LoadLocationFromTZData(z, b); err != nil {
			t.Errorf("%q: %v", z, err)
		}
	}
}

func TestDefaultTimeZone(t *testing.T) {
	d := newData(t)
	tests := []struct{ country, want string }{
		{"DE", "Europe/Berlin"},
		{"AT", "Europe/Vienna"},
		{"CH", "Europe/Zurich"},
		{"RU", "Europe/Moscow"}, // zone.tab lists Kaliningrad first
		{"US", "America/New_York"},
		{"CA", "America/Toronto"},
		{"AU", "Australia/Sydney"},
		{"BR", "America/Sao_Paulo"},
		{"UA", "Europe/Kyiv"},
		{"KZ", "Asia/Almaty"},
		{"XK", "Europe/Belgrade"},
		{"BV", "UTC"}, // uninhabited
		{"", "UTC"},
		{"ZZ", "UTC"},
	}
	for _, tt := range tests {
		if got := d.DefaultTimeZone(tt.country); got != tt.want {
			t.Errorf("DefaultTimeZone(%q) = %q, want %q", tt.country, got, tt.want)
		}
	}
	for _, c := range d.Countries("en") {
		if z := d.DefaultTimeZone(c.Code); !d.ValidTimeZone(z) {
			t.Errorf("DefaultTimeZone(%s) = %q, not valid", c.Code, z)
		}
	}
}

func TestFormatDate(t *testing.T) {
	d := newData(t)
	// 22:30 UTC on 31 March is already 1 April in Moscow and still 31 March in New York.
	at := time.Date(2025, 3, 31, 22, 30, 0, 0, time.UTC)
	tests := []struct{ id, tz, lang, want string }{
		{"ymd", "UTC", "en", "2025-03-31"},
		{"ymd", "Europe/Moscow", "en", "2025-04-01"},
		{"dmy-dot", "Europe/Berlin", "de", "01.04.2025"},
		{"dmy-slash", "America/New_York", "en", "31/03/2025"},
		{"mdy-slash", "America/New_York", "en", "03/31/2025"},
		{"long", "Asia/Tokyo", "en", "1 April 2025"},
		{"long", "Europe/Berlin", "de", "1. April 2025"},
		{"long", "Europe/Moscow", "ru", "1 апреля 2025\u202fг."}, // CLDR keeps "г." on the year's line
		{"long", "UTC", "fr", "31 March 2025"},
		{"nonsense", "UTC", "en", "2025-03-31"},        // unknown format: the default
		{"ymd", "Europe/Atlantis", "en", "2025-03-31"}, // unknown zone: UTC
		{"ymd", "", "en", "2025-03-31"},
	}
	for _, tt := range tests {
		if got := FormatDateIn(at, tt.id, tt.tz, tt.lang); got != tt.want {
			t.Errorf("FormatDateIn(%s, %s, %s) = %q, want %q", tt.id, tt.tz, tt.lang, got, tt.want)
		}
	}
	if got := FormatDate(at, "long", "UTC"); got != "31 March 2025" {
		t.Errorf("FormatDate long = %q", got)
	}
	fs := d.DateFormats()
	if len(fs) < 5 || fs[0].ID != DefaultDateFormat {
		t.Errorf("DateFormats() = %v", fs)
	}
	for _, f := range fs {
		if !d.ValidDateFormat(f.ID) {
			t.Errorf("ValidDateFormat(%q) = false", f.ID)
		}
		if got := FormatDate(at, f.ID, "UTC"); got != at.Format(f.Layout) {
			t.Errorf("%s: FormatDate = %q, layout gives %q", f.ID, got, at.Format(f.Layout))
		}
	}
	if d.ValidDateFormat("") || d.ValidDateFormat("2006-01-02") {
		t.Error("ValidDateFormat accepted a non-ID")
	}
}

// TestLocationMemoised: a zone is parsed once and handed out again; a name that does not
// load is UTC and is not kept (the memo holds only real zones).
func TestLocationMemoised(t *testing.T) {
	a, b := location("Europe/Berlin"), location("Europe/Berlin")
	if a != b || a.String() != "Europe/Berlin" {
		t.Fatalf("Europe/Berlin: %v and %v, want the same loaded zone twice", a, b)
	}
	if got := location("Not/AZone"); got != time.UTC {
		t.Errorf("unknown zone: %v, want UTC", got)
	}
	if _, kept := locations.Load("Not/AZone"); kept {
		t.Error("an unknown zone name was memoised")
	}
}

func BenchmarkFormatDateIn(b *testing.B) {
	t := time.Date(2026, 12, 6, 2, 30, 0, 0, time.UTC)
	for b.Loop() {
		FormatDateIn(t, "long", "Europe/Berlin", "de")
	}
}
