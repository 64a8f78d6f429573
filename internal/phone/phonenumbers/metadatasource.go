// Port of metadata/source/* + MetadataLoader from google/libphonenumber.
// Functions are kept in upstream source order to ease syncing.
// Last reconciled against: v9.0.32

package phonenumbers

import (
	_ "embed"
	"sync"
)

// The metadata, gzipped, as upstream embeds it (read-only assets; go:embed needs
// package-level variables). Upstream's carrier, geocoding, time-zone and short-number data
// are left out: nothing here uses them.
var (
	//go:embed data/countrycode_to_region.xml.gz
	regionData []byte
	//go:embed data/metadata.xml.gz
	numberData []byte
)

// metadataContainer bundles all of the metadata-derived lookup state used by
// the library. The package has one (current), built from the embedded metadata on
// first use.
type metadataContainer struct {
	// The parsed metadata collection this container was built from.
	metadataCollection *PhoneMetadataCollection

	// A map from country code (as integer) to two letter region codes.
	countryCodeToRegion map[int][]string

	// A mapping from a region code to the PhoneMetadata for that region.
	regionToMetadataMap map[string]*PhoneMetadata

	// A mapping from a country calling code for a non-geographical entity to
	// the PhoneMetadata for that country calling code. Examples of the country
	// calling codes include 800 (International Toll Free Service) and 808
	// (International Shared Cost Service).
	countryCodeToNonGeographicalMetadataMap map[int]*PhoneMetadata

	// The set of regions that share country calling code 1.
	nanpaRegions map[string]struct{}

	// The set of regions the library supports.
	supportedRegions map[string]bool

	// All the calling codes we support.
	supportedCallingCodes map[int]bool

	// The set of calling codes that map to the non-geo entity region ("001").
	countryCodesForNonGeographicalRegion map[int]bool
}

// current is the metadata container, decoded on first use. This is the one change from
// upstream, which built it in a package init (about 1.4 MB of heap and 2 MB of allocation
// in every process that links the package, whether or not a number is ever parsed). It is
// derived from the embedded data alone, so it is a constant computed late, not state: once
// built it is never written. A decoding error means a broken build (the data is embedded),
// hence the panic, as upstream's init did.
var current = sync.OnceValue(load)

// load decodes the embedded metadata.
func load() *metadataContainer {
	regionMap, err := loadIntArrayMap(regionData)
	if err != nil {
		panic(err)
	}
	raw, err := decodeUnzip(numberData)
	if err != nil {
		panic(err)
	}
	coll, err := decodeCollection(raw)
	if err != nil {
		panic(err)
	}
	mc, err := newMetadataContainer(coll, regionMap.Map)
	if err != nil {
		panic(err)
	}
	return mc
}

// newMetadataContainer builds a fully populated metadataContainer from a parsed
// metadata collection and a country-code-to-region map. This is the same
// derivation the library has always performed at init, now factored out so it
// can run against any metadata source, not just the embedded one.
func newMetadataContainer(coll *PhoneMetadataCollection, countryCodeToRegion map[int][]string) (*metadataContainer, error) {
	metadataList := coll.GetMetadata()
	if len(metadataList) == 0 {
		return nil, ErrEmptyMetadata
	}

	mc := &metadataContainer{
		metadataCollection:                      coll,
		countryCodeToRegion:                     countryCodeToRegion,
		regionToMetadataMap:                     make(map[string]*PhoneMetadata),
		countryCodeToNonGeographicalMetadataMap: make(map[int]*PhoneMetadata),
		nanpaRegions:                            make(map[string]struct{}),
		supportedRegions:                        make(map[string]bool, 320),
		supportedCallingCodes:                   make(map[int]bool, 320),
		countryCodesForNonGeographicalRegion:    make(map[int]bool, 16),
	}

	for _, meta := range metadataList {
		region := meta.GetId()
		if region == "001" {
			// it's a non geographical entity
			mc.countryCodeToNonGeographicalMetadataMap[int(meta.GetCountryCode())] = meta
		} else {
			mc.regionToMetadataMap[region] = meta
		}
	}

	for eKey, regionCodes := range countryCodeToRegion {
		// We can assume that if the county calling code maps to the
		// non-geo entity region code then that's the only region code
		// it maps to.
		if len(regionCodes) == 1 && REGION_CODE_FOR_NON_GEO_ENTITY == regionCodes[0] {
			// This is the subset of all country codes that map to the
			// non-geo entity region code.
			mc.countryCodesForNonGeographicalRegion[eKey] = true
		} else {
			// The supported regions set does not include the "001"
			// non-geo entity region code.
			for _, val := range regionCodes {
				mc.supportedRegions[val] = true
			}
		}

		mc.supportedCallingCodes[eKey] = true
	}
	// If the non-geo entity still got added to the set of supported regions it
	// must be because there are entries that list the non-geo entity alongside
	// normal regions (which is wrong). If we discover this, remove the non-geo
	// entity from the set of supported regions.
	delete(mc.supportedRegions, REGION_CODE_FOR_NON_GEO_ENTITY)

	for _, val := range countryCodeToRegion[NANPA_COUNTRY_CODE] {
		mc.nanpaRegions[val] = struct{}{}
	}

	return mc, nil
}

func readFromNanpaRegions(key string) (struct{}, bool) {
	v, ok := current().nanpaRegions[key]
	return v, ok
}

func readFromRegionToMetadataMap(key string) (*PhoneMetadata, bool) {
	v, ok := current().regionToMetadataMap[key]
	return v, ok
}

func readFromCountryCodeToNonGeographicalMetadataMap(key int) (*PhoneMetadata, bool) {
	v, ok := current().countryCodeToNonGeographicalMetadataMap[key]
	return v, ok
}

// MetadataCollection returns the embedded territory metadata collection.
func MetadataCollection() (*PhoneMetadataCollection, error) {
	return current().metadataCollection, nil
}
