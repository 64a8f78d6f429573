// Package geo is the reference data behind profile completion: countries (ISO 3166-1
// alpha-2) with names in English, German and Russian, their first-level subdivisions
// (ISO 3166-2), IANA time zones and a few date formats.
//
// Everything is read-only, checked by New and built on first use from files embedded in
// the binary, so the server needs no network and no data files on the host. Country names
// come from the CLDR data in golang.org/x/text/language/display rather than a copied
// table; subdivisions and
// the zone-per-country table, and CLDR's date words and zone city names, are generated
// into data/ by gen.go (see data/README.md for
// sources and licences). Time zones use Go's embedded tzdata, so a zone chosen here loads
// on a minimal container without /usr/share/zoneinfo as well.
package geo

//go:generate go run gen.go

import (
	"bufio"
	"embed"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

//go:embed data/*.tsv
var dataFS embed.FS

// Country is an ISO 3166-1 alpha-2 code with its name in the requested language.
type Country struct {
	Code string // upper case, e.g. "DE"
	Name string // e.g. "Germany", "Deutschland", "Германия"
}

// Region is a first-level ISO 3166-2 subdivision: Code is the part after the hyphen
// ("BY" for DE-BY), which is what a profile stores next to the country.
type Region struct {
	Code string
	Name string
}

// nameLangs are the languages names are prepared for: the UI's languages. Any other
// language gets English, so a caller passing raw user input cannot make the tables grow.
var nameLangs = []string{"en", "de", "ru"}

// extraCountries are codes outside ISO 3166-1 that people nevertheless live in. Kosovo's
// "XK" is user-assigned but used by the EU, CLDR and most software; without it, people
// there would have to claim another country to finish their profile.
var extraCountries = map[string]string{"XK": "Kosovo"}

// nameOverrides replace CLDR names that x/text still carries from before a country's
// renaming; left alone they would offend the people who must pick them.
var nameOverrides = map[string]map[string]string{
	"MK": {"en": "North Macedonia", "de": "Nordmazedonien", "ru": "Северная Македония"},
	"SZ": {"en": "Eswatini", "de": "Eswatini", "ru": "Эсватини"},
}

// tables are what Data serves, built by newTables. They are immutable once built.
type tables struct {
	countries    map[string][]Country         // lang → all countries, sorted by name
	countryNames map[string]map[string]string // lang → code → name
	regions      map[string]*countryRegions   // country → its subdivisions
	zones        []string                     // sorted, for TimeZones
	zoneSet      map[string]bool
	countryZones map[string][]string  // country → zones in zone.tab order
	zoneCities   map[string][3]string // zone → city in en, de, ru
}

// newTables loads and checks the embedded tables. It fails only if the binary was built
// with broken data files, which the package tests catch first.
func newTables() (*tables, error) {
	d := &tables{
		countries:    map[string][]Country{},
		countryNames: map[string]map[string]string{},
		regions:      map[string]*countryRegions{},
		zoneSet:      map[string]bool{},
		countryZones: map[string][]string{},
	}
	if err := d.loadCountries(); err != nil {
		return nil, err
	}
	if err := d.loadRegions(); err != nil {
		return nil, err
	}
	if err := d.loadZones(); err != nil {
		return nil, err
	}
	if err := d.loadZoneCities(); err != nil {
		return nil, err
	}
	// Read the date words now, so a broken cldr.tsv fails here and not on a page.
	if len(cldrWords()) == 0 {
		return nil, fmt.Errorf("geo: cldr.tsv is empty")
	}
	return d, nil
}

// readTSV returns the rows of an embedded data file, each checked to have n fields.
func readTSV(name string, n int) ([][]string, error) {
	f, err := dataFS.Open("data/" + name)
	if err != nil {
		return nil, fmt.Errorf("geo: %w", err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if t := sc.Text(); t != "" && !strings.HasPrefix(t, "#") {
			row := strings.Split(t, "\t")
			if len(row) != n {
				return nil, fmt.Errorf("geo: %s:%d: %d fields, want %d", name, line, len(row), n)
			}
			rows = append(rows, row)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("geo: %s: %w", name, err)
	}
	return rows, nil
}

func validCode(c string) bool {
	return len(c) == 2 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z'
}

func (d *tables) loadCountries() error {
	rows, err := readTSV("countries.tsv", 2)
	if err != nil {
		return err
	}
	isoNames := map[string]string{}
	for _, r := range rows {
		if !validCode(r[0]) {
			return fmt.Errorf("geo: countries.tsv: bad code %q", r[0])
		}
		isoNames[r[0]] = r[1]
	}
	for c, n := range extraCountries {
		isoNames[c] = n
	}
	for _, lang := range nameLangs {
		tag := language.Make(lang)
		namer := display.Regions(tag)
		names := make(map[string]string, len(isoNames))
		list := make([]Country, 0, len(isoNames))
		for code, isoName := range isoNames {
			name := nameOverrides[code][lang]
			if name == "" {
				if r, err := language.ParseRegion(code); err == nil {
					name = namer.Name(r)
				}
			}
			if name == "" && lang != "en" {
				name = d.countryNames["en"][code]
			}
			if name == "" {
				name = isoName
			}
			names[code] = name
			list = append(list, Country{Code: code, Name: name})
		}
		coll := collate.New(tag)
		sort.Slice(list, func(i, j int) bool { return less(coll, list[i].Name, list[j].Name, list[i].Code, list[j].Code) })
		d.countryNames[lang], d.countries[lang] = names, list
	}
	return nil
}

// less orders by name as the language's speakers expect (collation puts "Österreich"
// among the O's in German), breaking ties by code so the order is stable.
func less(c *collate.Collator, a, b, ka, kb string) bool {
	if r := c.CompareString(a, b); r != 0 {
		return r < 0
	}
	return ka < kb
}

// regionLangs are the orders RegionsIn serves: "" (ISO names, root collation) and nameLangs.
var regionLangs = append([]string{""}, nameLangs...)

// subdivision is one row of subdivisions.tsv; the strings share the row's line.
type subdivision struct{ code, iso, de, ru string }

// name is the subdivision's name in lang: the German or Russian one where the translators
// gave one, the ISO name otherwise.
func (s *subdivision) name(lang string) string {
	switch {
	case lang == "de" && s.de != "":
		return s.de
	case lang == "ru" && s.ru != "":
		return s.ru
	}
	return s.iso
}

// countryRegions holds one country's subdivisions once, sorted by code (for RegionName and
// ValidRegion), plus each language's sorted order as row indexes. Before, every language had
// its own []Region and its own "CC-RR" → name map: four copies of ~3,700 rows, about 2 MB
// of heap held for the process's life; this is about a fifth of that.
type countryRegions struct {
	rows  []subdivision
	order [][]uint16 // parallel to regionLangs
}

func (c *countryRegions) find(code string) *subdivision {
	i, ok := slices.BinarySearchFunc(c.rows, code, func(s subdivision, code string) int { return strings.Compare(s.code, code) })
	if !ok {
		return nil
	}
	return &c.rows[i]
}

func (d *tables) loadRegions() error {
	rows, err := readTSV("subdivisions.tsv", 5)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if _, ok := d.countryNames["en"][r[0]]; !ok {
			return fmt.Errorf("geo: subdivisions.tsv: unknown country %q", r[0])
		}
		if r[1] == "" || r[2] == "" {
			return fmt.Errorf("geo: subdivisions.tsv: empty code or name in %q", r)
		}
		c := d.regions[r[0]]
		if c == nil {
			c = &countryRegions{}
			d.regions[r[0]] = c
		}
		c.rows = append(c.rows, subdivision{code: r[1], iso: r[2], de: r[3], ru: r[4]})
	}
	// Regions (no language) lists ISO names, which are mostly in the country's own
	// language and script; the root collation orders such a mix sensibly.
	colls := make([]*collate.Collator, len(regionLangs))
	for i, lang := range regionLangs {
		tag := language.Und
		if lang != "" {
			tag = language.Make(lang)
		}
		colls[i] = collate.New(tag)
	}
	for country, c := range d.regions {
		slices.SortFunc(c.rows, func(a, b subdivision) int { return strings.Compare(a.code, b.code) })
		c.rows = slices.Clip(c.rows)
		for i := 1; i < len(c.rows); i++ {
			if c.rows[i].code == c.rows[i-1].code {
				return fmt.Errorf("geo: subdivisions.tsv: %s-%s twice", country, c.rows[i].code)
			}
		}
		if len(c.rows) > math.MaxUint16 {
			return fmt.Errorf("geo: subdivisions.tsv: %s has too many regions", country)
		}
		c.order = make([][]uint16, len(regionLangs))
		for li, lang := range regionLangs {
			ord := make([]uint16, len(c.rows))
			for i := range ord {
				ord[i] = uint16(i)
			}
			sort.Slice(ord, func(i, j int) bool {
				a, b := &c.rows[ord[i]], &c.rows[ord[j]]
				return less(colls[li], a.name(lang), b.name(lang), a.code, b.code)
			})
			c.order[li] = ord
		}
	}
	return nil
}

// nameLang maps any language tag to one the names were prepared for: "de-CH" → "de",
// "fr" → "en".
func nameLang(lang string) string {
	// The tags the UI and mail pass are already these: no need to parse them (a tenth of
	// formatting a date otherwise).
	for _, l := range nameLangs {
		if lang == l {
			return l
		}
	}
	if t, err := language.Parse(lang); err == nil {
		b, _ := t.Base()
		for _, l := range nameLangs {
			if b.String() == l {
				return l
			}
		}
	}
	return "en"
}

// Countries lists every country with its name in lang (en, de or ru; anything else is
// English), sorted by that name.
func (d *tables) Countries(lang string) []Country {
	return append([]Country(nil), d.countries[nameLang(lang)]...)
}

// ValidCountry reports whether code is a known upper-case country code.
func (d *tables) ValidCountry(code string) bool {
	_, ok := d.countryNames["en"][code]
	return ok
}

// CountryName is the country's name in lang, or "" for an unknown code; for showing a
// stored profile without scanning Countries.
func (d *tables) CountryName(code, lang string) string {
	return d.countryNames[nameLang(lang)][code]
}

// HasRegions reports whether a person from country must also choose a region.
func (d *tables) HasRegions(country string) bool {
	return d.regions[country] != nil
}

// Regions lists the country's first-level subdivisions under their ISO names (usually
// in the local language: "Bayern", "Île-de-France"), sorted by name; nil if it has none.
func (d *tables) Regions(country string) []Region {
	return d.RegionsIn(country, "")
}

// RegionsIn is Regions with the German or Russian name where iso-codes' translators
// provided one ("Bavaria" stays "Bayern" in English: the ISO name is the English one).
// lang "" gives the ISO names, like Regions.
func (d *tables) RegionsIn(country, lang string) []Region {
	if lang != "" {
		lang = nameLang(lang)
	}
	c := d.regions[country]
	if c == nil {
		return nil
	}
	li := slices.Index(regionLangs, lang)
	rs := make([]Region, len(c.order[li]))
	for i, j := range c.order[li] {
		rs[i] = Region{Code: c.rows[j].code, Name: c.rows[j].name(lang)}
	}
	return rs
}

// RegionName is the region's name in lang ("" for the ISO name), or "" if the country
// has no such region.
func (d *tables) RegionName(country, region, lang string) string {
	if lang != "" {
		lang = nameLang(lang)
	}
	if region == "" {
		return ""
	}
	c := d.regions[country]
	if c == nil {
		return ""
	}
	if r := c.find(region); r != nil {
		return r.name(lang)
	}
	return ""
}

// ValidRegion reports whether region (the code after the hyphen) belongs to country.
// A country without subdivisions takes only the empty region, and one with them
// requires a region: that is the profile rule, kept here so it cannot drift from the data.
func (d *tables) ValidRegion(country, region string) bool {
	if !d.ValidCountry(country) {
		return false
	}
	if !d.HasRegions(country) {
		return region == ""
	}
	return region != "" && d.regions[country].find(region) != nil
}
