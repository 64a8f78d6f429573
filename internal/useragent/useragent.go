// Package useragent turns a User-Agent header into the short description people recognise on
// a "my devices" list ("Firefox on Windows"). It guesses from well-known tokens; anything it
// does not know is shortened rather than shown raw.
package useragent

import "strings"

// Describe returns "Browser on OS", or a shortened header when neither is recognised.
func Describe(ua string) string {
	ua = strings.TrimSpace(ua)
	if ua == "" {
		return "Unknown device"
	}
	b, os := browser(ua), system(ua)
	switch {
	case b != "" && os != "":
		return b + " on " + os
	case b != "":
		return b
	case os != "":
		return os
	}
	if i := strings.IndexAny(ua, " ("); i > 0 {
		ua = ua[:i]
	}
	if len(ua) > 40 {
		ua = ua[:40]
	}
	return ua
}

// browser checks the tokens in an order that copes with browsers naming their ancestors
// (Edge says Chrome and Safari; Chrome says Safari).
func browser(ua string) string {
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"YaBrowser/", "Yandex Browser"}, {"SamsungBrowser/", "Samsung Internet"},
		{"Firefox/", "Firefox"}, {"Chromium/", "Chromium"}, {"Chrome/", "Chrome"}, {"CriOS/", "Chrome"},
		{"Safari/", "Safari"}, {"curl/", "curl"}, {"Go-http-client/", "Go HTTP client"}, {"okhttp/", "OkHttp"},
	} {
		if strings.Contains(ua, b.token) {
			return b.name
		}
	}
	return ""
}

func system(ua string) string {
	for _, s := range []struct{ token, name string }{
		{"Windows", "Windows"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"},
		{"CrOS", "ChromeOS"}, {"Mac OS X", "macOS"}, {"Macintosh", "macOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, s.token) {
			return s.name
		}
	}
	return ""
}
