// Package phone holds people's phone numbers (issue 15): parsing what a person types, in
// national or international form, with their profile's country as the default; the E.164
// form that is stored; and the verification of a number by a six-digit code sent to it by
// SMS, with a ten-minute life, a few guesses and resends that wait longer each time. It
// speaks neither HTTP nor SMS: the sender is handed in (internal/sms).
package phone

import (
	"errors"
	"strings"

	"github.com/myaccount/myaccount/internal/phone/phonenumbers"
)

// ErrInvalid is input that is not a valid phone number (for its country, when national).
var ErrInvalid = errors.New("phone: not a valid phone number")

// maxInput bounds what is handed to the parser; no phone number is longer, whatever the
// spaces and punctuation.
const maxInput = 64

// Parse reads a number typed in national form ("030 123456", read in defaultRegion, an ISO
// 3166 code such as "DE") or international form ("+49 30 123456", "0049 30 123456") and
// returns its E.164 form ("+4930123456"). A number the metadata does not know as valid is
// ErrInvalid, so that codes are not sent to numbers that cannot receive them.
func Parse(input, defaultRegion string) (string, error) {
	input = strings.TrimSpace(input)
	if input == "" || len(input) > maxInput {
		return "", ErrInvalid
	}
	n, err := phonenumbers.Parse(input, strings.ToUpper(defaultRegion))
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", ErrInvalid
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// Region is the ISO 3166 country of a stored E.164 number ("DE"), or "" when unknown.
func Region(e164 string) string {
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return ""
	}
	return phonenumbers.GetRegionCodeForNumber(n)
}

// Display formats a stored number for people: internationally ("+49 30 123456"), so that it
// reads the same wherever the reader is.
func Display(e164 string) string {
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return e164
	}
	return phonenumbers.Format(n, phonenumbers.INTERNATIONAL)
}

// Masked shows only the last two digits ("+49 •• •••• ••56"), for pages that name the number
// a code went to without showing it whole to whoever is at the screen.
func Masked(e164 string) string {
	d := Display(e164)
	keep := 2
	out := []rune(d)
	for i := len(out) - 1; i > 0; i-- { // the leading "+" and country code stay
		if out[i] < '0' || out[i] > '9' {
			continue
		}
		if keep > 0 {
			keep--
			continue
		}
		out[i] = '•'
	}
	// Show the country calling code again: it says which phone, not which number.
	if i := strings.IndexByte(d, ' '); i > 0 {
		return d[:i] + string(out[i:])
	}
	return string(out)
}
