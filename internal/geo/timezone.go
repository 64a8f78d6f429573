package geo

import (
	"fmt"
	"regexp"
	"sort"
	"sync"
	"time"

	// The zones offered here must load wherever the server runs, including images
	// without /usr/share/zoneinfo; this embeds Go's copy of the IANA database (~450 KB)
	// as the fallback time.LoadLocation uses when the system has none.
	_ "time/tzdata"
)

// capitalZones picks the capital's zone for countries whose first zone in zone.tab is
// not the capital's (zone.tab lists e.g. Russia from Kaliningrad eastwards). Countries
// with one zone, or whose first zone already is the capital's, need no entry; those
// without a capital (AQ, UM) keep zone.tab's first, the uninhabited BV and HM get UTC.
var capitalZones = map[string]string{
	"AU": "Australia/Sydney",  // Canberra
	"BR": "America/Sao_Paulo", // Brasília
	"CA": "America/Toronto",   // Ottawa
	"FM": "Pacific/Pohnpei",   // Palikir
	"PS": "Asia/Hebron",       // Ramallah, the seat of government
	"RU": "Europe/Moscow",     // Moscow
	"UA": "Europe/Kyiv",       // Kyiv
	"UZ": "Asia/Tashkent",     // Tashkent
	"XK": "Europe/Belgrade",   // Pristina; not in zone.tab, which follows ISO 3166-1
}

// zoneName is the shape of an IANA name ("Europe/Berlin", "America/Argentina/Salta",
// "Etc/GMT+5", "UTC"); it keeps odd input away from time.LoadLocation's file lookup.
var zoneName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$`)

func (d *tables) loadZones() error {
	rows, err := readTSV("zones.tsv", 2)
	if err != nil {
		return err
	}
	d.zoneSet["UTC"] = true
	for _, r := range rows {
		if !d.ValidCountry(r[0]) {
			return fmt.Errorf("geo: zones.tsv: unknown country %q", r[0])
		}
		if _, err := time.LoadLocation(r[1]); err != nil {
			return fmt.Errorf("geo: zones.tsv: %w", err)
		}
		d.countryZones[r[0]] = append(d.countryZones[r[0]], r[1])
		d.zoneSet[r[1]] = true
	}
	for c, z := range capitalZones {
		if !d.zoneSet[z] {
			return fmt.Errorf("geo: capital zone %q of %s is not in zones.tsv", z, c)
		}
	}
	for z := range d.zoneSet {
		d.zones = append(d.zones, z)
	}
	sort.Strings(d.zones)
	return nil
}

// TimeZones lists the IANA zones people choose from: every zone tzdata's zone.tab assigns
// to a country (which includes per-country aliases like "Europe/Vatican", so everyone
// finds a name they recognise) plus "UTC", sorted.
func (d *tables) TimeZones() []string {
	return append([]string(nil), d.zones...)
}

// ValidTimeZone reports whether name is an IANA zone Go can load. It accepts any such
// name, not only those TimeZones offers, so values set through the API ("Etc/GMT-3")
// stay valid; it rejects "" and "Local", which would mean the server's zone.
func (d *tables) ValidTimeZone(name string) bool {
	if d.zoneSet[name] {
		return true
	}
	if len(name) > 64 || name == "Local" || !zoneName.MatchString(name) {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}

// DefaultTimeZone suggests a zone for someone in country: its only zone, or the
// capital's where there are several. It returns "UTC" when there is nothing better to
// say (no or unknown country), so the result is always a valid zone.
func (d *tables) DefaultTimeZone(country string) string {
	if z, ok := capitalZones[country]; ok {
		return z
	}
	if zs := d.countryZones[country]; len(zs) > 0 {
		return zs[0]
	}
	return "UTC"
}

// location is tz loaded, or UTC when tz is empty or unknown: a wrong stored zone must
// not stop a page from rendering.
func location(tz string) *time.Location {
	if tz == "" || tz == "Local" {
		return time.UTC
	}
	if loc, ok := locations.Load(tz); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return time.UTC
	}
	locations.Store(tz, loc)
	return loc
}

// locations memoises time.LoadLocation, which reads and parses the zone's tzdata on every
// call (a fifth of the cost of rendering a sign-in notice). Only names that loaded are kept,
// so it holds at most the few hundred zones there are; *time.Location is immutable.
var locations sync.Map
