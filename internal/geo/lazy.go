package geo

import (
	"fmt"
	"sync"
	"time"
)

// Data serves the tables. It is immutable and safe for concurrent use; methods return
// fresh slices, so callers may sort or edit what they get.
//
// New builds the tables once to check them and then drops them: they are built again on
// first use. A server holds them only once a page needs them (about 0.75 MB of heap, and
// x/text's collation tables paged in), not from the start; the first such page pays the
// build, some tens of milliseconds.
type Data struct {
	t func() *tables
}

// New checks the embedded tables. It fails only if the binary was built with broken data
// files, which the package tests catch first.
func New() (*Data, error) {
	if _, err := newTables(); err != nil {
		return nil, err
	}
	return &Data{t: sync.OnceValue(func() *tables {
		t, err := newTables()
		if err != nil {
			// The same embedded data and code passed New's check (time zones fall back
			// to Go's embedded tzdata), so this does not happen.
			panic(fmt.Sprintf("geo: tables checked at start failed to load: %v", err))
		}
		return t
	})}, nil
}

// Countries lists every country with its name in lang (en, de or ru; anything else is
// English), sorted by that name.
func (d *Data) Countries(lang string) []Country { return d.t().Countries(lang) }

// ValidCountry reports whether code is a known upper-case country code.
func (d *Data) ValidCountry(code string) bool { return d.t().ValidCountry(code) }

// CountryName is the country's name in lang, or "" for an unknown code.
func (d *Data) CountryName(code, lang string) string { return d.t().CountryName(code, lang) }

// HasRegions reports whether a person from country must also choose a region.
func (d *Data) HasRegions(country string) bool { return d.t().HasRegions(country) }

// Regions lists the country's first-level subdivisions under their ISO names, sorted by
// name; nil if it has none.
func (d *Data) Regions(country string) []Region { return d.t().Regions(country) }

// RegionsIn is Regions with German or Russian names where there are some.
func (d *Data) RegionsIn(country, lang string) []Region { return d.t().RegionsIn(country, lang) }

// RegionName is the region's name in lang ("" for the ISO name), or "" if the country has
// no such region.
func (d *Data) RegionName(country, region, lang string) string {
	return d.t().RegionName(country, region, lang)
}

// ValidRegion reports whether region (the code after the hyphen) belongs to country.
func (d *Data) ValidRegion(country, region string) bool { return d.t().ValidRegion(country, region) }

// ZoneCity is the city or place that names zone tz, in lang.
func (d *Data) ZoneCity(tz, lang string) string { return d.t().ZoneCity(tz, lang) }

// ZoneLabel is tz's city in lang after its UTC offset at the instant at.
func (d *Data) ZoneLabel(tz, lang string, at time.Time) string { return d.t().ZoneLabel(tz, lang, at) }

// TimeZonesIn lists TimeZones with labels in lang, by UTC offset at the instant at.
func (d *Data) TimeZonesIn(lang string, at time.Time) []Zone { return d.t().TimeZonesIn(lang, at) }

// TimeZones lists the IANA zones people choose from, sorted.
func (d *Data) TimeZones() []string { return d.t().TimeZones() }

// ValidTimeZone reports whether name is an IANA zone Go can load.
func (d *Data) ValidTimeZone(name string) bool { return d.t().ValidTimeZone(name) }

// DefaultTimeZone suggests a zone for someone in country.
func (d *Data) DefaultTimeZone(country string) string { return d.t().DefaultTimeZone(country) }
