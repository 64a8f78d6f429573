// Package redirecturi decides which redirect URIs a client may use. It is shared by the
// provider (authorize, end_session) and the UI (logout page), which must agree exactly.
package redirecturi

import (
	"net"
	"net/url"
	"strings"
)

// Allowed reports whether requested may be used as a redirect URI for a client
// that registered the given URIs. The match is exact, byte for byte. The one relaxation is
// RFC 8252 §7.3: a native client that registered an http loopback IP literal (127.0.0.1 or
// [::1]) without a port may use any port, with scheme, host, path and query still exact.
// "localhost" is never relaxed (RFC 8252 §8.3 advises against it; it must match exactly).
func Allowed(registered []string, requested string, native bool) bool {
	for _, r := range registered {
		if r == requested {
			return true
		}
	}
	if !native {
		return false
	}
	req, ok := loopbackURL(requested)
	if !ok {
		return false
	}
	for _, r := range registered {
		reg, ok := loopbackURL(r)
		if !ok || reg.Port() != "" {
			continue
		}
		if reg.Hostname() == req.Hostname() && reg.EscapedPath() == req.EscapedPath() &&
			reg.RawQuery == req.RawQuery && reg.Fragment == "" && req.Fragment == "" &&
			reg.User == nil && req.User == nil {
			return true
		}
	}
	return false
}

// loopbackURL parses s and reports whether it is an http URL on a loopback IP literal.
func loopbackURL(s string) (*url.URL, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.Opaque != "" {
		return nil, false
	}
	host := u.Hostname()
	if host != "127.0.0.1" && host != "::1" {
		return nil, false
	}
	// Reject odd spellings such as "127.1" that net.ParseIP would not produce; the
	// registered and requested hosts are compared as literal strings above.
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, false
	}
	if p := u.Port(); p != "" && strings.TrimLeft(p, "0123456789") != "" {
		return nil, false
	}
	return u, true
}

// ValidForType checks a redirect URI that an administrator registers (admin API, CLI):
// absolute, no fragment, and a scheme appropriate to the client type. Plain http is allowed
// on a loopback host for any type: an operator's development client (the README's quick
// start registers a confidential client at http://localhost:9999/callback). An anonymous
// registrant is held to ValidForRegistration.
func ValidForType(raw, clientType string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Fragment != "" || strings.Contains(raw, "#") {
		return false
	}
	switch u.Scheme {
	case "https":
		return u.Host != ""
	case "http":
		// Plain http only for loopback, where no network sees it.
		h := u.Hostname()
		return h == "localhost" || h == "127.0.0.1" || h == "::1"
	default:
		// Private-use schemes (com.example.app:/cb) only for native apps, and in
		// reverse-domain form so one app cannot claim another's scheme by accident.
		return clientType == "native" && strings.Contains(u.Scheme, ".")
	}
}

// ValidForRegistration checks a redirect URI of dynamic client registration (RFC 7591),
// where anyone with an initial access token registers: ValidForType, and plain http only for
// a native client and only on a loopback IP literal (RFC 8252 §7.3): 127.0.0.1 or [::1].
// "localhost" is refused (RFC 8252 §8.3: NOT RECOMMENDED; a name can resolve elsewhere), and
// a web or public client never gets http: its redirect carries codes through a browser that
// is not on the app's own machine, where a loopback listener is anyone's.
func ValidForRegistration(raw, clientType string) bool {
	if !ValidForType(raw, clientType) {
		return false
	}
	u, _ := url.Parse(raw)
	if u.Scheme != "http" {
		return true
	}
	_, ok := loopbackURL(raw)
	return ok && clientType == "native" && u.User == nil
}

// ErrorURL builds an OAuth error response to a redirect URI already known to be registered
// (RFC 6749 §4.1.2.1), with the issuer added per RFC 9207.
func ErrorURL(redirect, code, desc, state, issuer string) (string, error) {
	u, err := url.Parse(redirect)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("error", code)
	if desc != "" {
		q.Set("error_description", desc)
	}
	if state != "" {
		q.Set("state", state)
	}
	q.Set("iss", issuer)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
