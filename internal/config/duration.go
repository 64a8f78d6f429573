package config

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration that reads and writes YAML as a Go duration string ("15m",
// "720h"). A plain time.Duration would decode from a bare integer of nanoseconds, so
// "access_token_ttl: 900" would silently mean 900ns; requiring a unit removes that trap.
type Duration time.Duration

// Std returns d as a time.Duration for use with the standard library.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d compactly ("720h" rather than time.Duration's "720h0m0s") so that a
// marshalled config reads like the hand-written one.
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// UnmarshalYAML accepts only a scalar parseable by time.ParseDuration and reports the line,
// since a bare "invalid duration" is hard to find in a long file.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration string such as \"15m\" or \"720h\"", n.Line)
	}
	if err := d.UnmarshalText([]byte(n.Value)); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// MarshalYAML writes d in the same form UnmarshalYAML reads.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalText parses a time.ParseDuration string; it lets Duration be used with JSON and flag
// packages as well.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use a number with a unit, e.g. \"15m\", \"720h\")", string(b))
	}
	*d = Duration(v)
	return nil
}

// MarshalText is the inverse of UnmarshalText.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
