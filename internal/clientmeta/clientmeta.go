// Package clientmeta checks the addresses a client shows people on the consent page: its
// logo, home page, privacy policy and terms of service (RFC 7591's logo_uri, client_uri,
// policy_uri and tos_uri). The CLI refuses what Check refuses, and the consent page shows
// only what Check accepts, so a row written some other way cannot put a javascript: link,
// an http logo or a misleading address in front of a person.
package clientmeta

import (
	"errors"
	"net/url"
	"strings"
)

// MaxLen bounds an address: it is shown on a page and placed in a header (the logo's origin).
const MaxLen = 2000

// Check reports why u is not an acceptable address; "" (not set) is acceptable.
func Check(u string) error {
	if u == "" {
		return nil
	}
	if len(u) > MaxLen {
		return errors.New("is longer than 2000 characters")
	}
	if strings.ContainsFunc(u, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return errors.New("contains spaces or control characters")
	}
	if !strings.HasPrefix(u, "https://") {
		return errors.New("must start with https://")
	}
	p, err := url.Parse(u)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	if p.User != nil {
		// https://bank.example@evil.example reads as the bank and leads elsewhere.
		return errors.New("must not contain a user name or password")
	}
	if !validHost(p.Hostname()) {
		return errors.New("must name a host in ASCII letters, digits, dots and hyphens (punycode for international names)")
	}
	if port := p.Port(); port != "" && strings.Trim(port, "0123456789") != "" {
		return errors.New("has an invalid port")
	}
	return nil
}

// validHost accepts DNS names in ASCII only: a Unicode name may imitate another (homograph),
// and the host also goes into a Content-Security-Policy source, which allows no more.
func validHost(h string) bool {
	if h == "" || len(h) > 253 || strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") || strings.Contains(h, "..") {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

// Host returns the lower-case host name of an acceptable address (the domain a person
// sees), or "" when u is empty or not acceptable.
func Host(u string) string {
	if u == "" || Check(u) != nil {
		return ""
	}
	p, _ := url.Parse(u)
	return strings.ToLower(p.Hostname())
}

// Origin returns "https://host[:port]" of an acceptable address, a Content-Security-Policy
// source that allows that one origin, or "" when u is empty or not acceptable.
func Origin(u string) string {
	if u == "" || Check(u) != nil {
		return ""
	}
	p, _ := url.Parse(u)
	return "https://" + strings.ToLower(p.Host)
}
