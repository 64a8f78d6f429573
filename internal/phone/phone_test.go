package phone

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, input, region, want string
		err                       error
	}{
		{"national with the profile's country", "030 123456", "DE", "+4930123456", nil},
		{"international wins over the country", "+44 20 7946 0958", "DE", "+442079460958", nil},
		{"00 prefix", "0049 30 123456", "DE", "+4930123456", nil},
		{"lower-case region", "030 123456", "de", "+4930123456", nil},
		{"punctuation", "(030) 12-34-56", "DE", "+4930123456", nil},
		{"mobile", "0151 23456789", "DE", "+4915123456789", nil},
		{"US national", "(201) 555-0123", "US", "+12015550123", nil},
		{"empty", "  ", "DE", "", ErrInvalid},
		{"letters", "call me", "DE", "", ErrInvalid},
		{"too short", "030 1", "DE", "", ErrInvalid},
		{"national without a country", "030 123456", "", "", ErrInvalid},
		{"too long", "+49 30 123456 123456 123456 123456 123456 123456 123456 123456", "DE", "", ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.input, tc.region)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("Parse(%q, %q) = %q, %v; want %q, %v", tc.input, tc.region, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestRegionDisplayMasked(t *testing.T) {
	if got := Region("+4930123456"); got != "DE" {
		t.Errorf("Region = %q, want DE", got)
	}
	if got := Region("+12015550123"); got != "US" {
		t.Errorf("Region = %q, want US", got)
	}
	if got := Display("+4930123456"); got != "+49 30 123456" {
		t.Errorf("Display = %q", got)
	}
	if got := Masked("+4930123456"); got != "+49 •• ••••56" {
		t.Errorf("Masked = %q", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("030 123456", "DE")
	f.Add("+1 (201) 555-0123", "")
	f.Fuzz(func(t *testing.T, input, region string) {
		e164, err := Parse(input, region)
		if err != nil {
			return
		}
		again, err := Parse(e164, "")
		if err != nil || again != e164 {
			t.Fatalf("E.164 %q of %q does not parse back to itself: %q, %v", e164, input, again, err)
		}
	})
}
