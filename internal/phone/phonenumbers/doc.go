// Package phonenumbers parses, validates and formats phone numbers. It is the parsing,
// validation and formatting part of github.com/nyaruka/phonenumbers v1.8.1 (MIT, see
// LICENSE; itself a port of Google's libphonenumber), with two changes:
//
//   - the metadata is decoded on first use (current, in metadatasource.go), not by a
//     package init. Upstream's init decoded it in every process that linked the package,
//     about 1.4 MB of heap kept and 2 MB allocated, whether or not a number was ever
//     parsed; for `myaccount serve` that was the difference between an idle RSS under and
//     over its 40 MB target (docs/sizing-journal.md).
//   - the protobuf message types are plain structs with the same fields and getters
//     (types.go), read from the same embedded wire-format data by decode.go, so that no
//     .proto file is registered in protobuf's global registry (the upstream module, which
//     TestSameAsUpstream links beside this copy, registers the same names).
//
// Carrier, geocoding, time-zone, short-number and matcher code and data are left out.
// Everything else is upstream's code; TestSameAsUpstream compares the results with the
// upstream module's for numbers of many regions and types.
package phonenumbers
