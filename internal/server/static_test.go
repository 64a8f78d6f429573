package server_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

// TestStaticDelivery: pages link their stylesheets, theme and icon under content-hashed
// URLs that may be cached for a year; those answer compressed for clients that accept it;
// the HTML pages themselves are never compressed (BREACH: they carry the CSRF token next to
// reflected input), and the old plain URLs still work.
func TestStaticDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	fetch := func(path, accept string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, e.issuer+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Set by hand, Go's transport leaves the body as it came.
		req.Header.Set("Accept-Encoding", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r io.Reader = resp.Body
		switch resp.Header.Get("Content-Encoding") {
		case "br":
			r = brotli.NewReader(resp.Body)
		case "gzip":
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			r = zr
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return resp, b
	}

	resp, html := fetch("/login", "gzip, deflate, br, zstd")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("/login: %d, Content-Encoding %q; want 200 and an uncompressed page", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	links := regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`).FindAllStringSubmatch(string(html), -1)
	hashed := map[string]string{}
	for _, l := range links {
		if m := regexp.MustCompile(`^/static/(style|theme|favicon)\.[0-9a-f]{12}\.(css|svg)$`).FindStringSubmatch(l[1]); m != nil {
			hashed[m[1]] = l[1]
		}
	}
	for _, name := range []string{"style", "theme", "favicon"} {
		if hashed[name] == "" {
			t.Fatalf("/login does not link %s under a hashed URL; links: %q", name, links)
		}
	}

	for _, c := range []struct{ accept, enc string }{{"gzip, deflate, br, zstd", "br"}, {"gzip", "gzip"}, {"", ""}} {
		resp, css := fetch(hashed["style"], c.accept)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != c.enc {
			t.Errorf("%s (Accept-Encoding %q): %d, Content-Encoding %q, want 200 and %q",
				hashed["style"], c.accept, resp.StatusCode, resp.Header.Get("Content-Encoding"), c.enc)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("%s: Cache-Control %q, want a year, immutable", hashed["style"], cc)
		}
		if !strings.Contains(string(css), "--accent") {
			t.Errorf("%s (Accept-Encoding %q): the decoded body is not the stylesheet", hashed["style"], c.accept)
		}
		if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: the security headers are missing", hashed["style"])
		}
	}
	if resp, svg := fetch(hashed["favicon"], "br"); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" ||
		!strings.HasPrefix(string(svg), "<svg") {
		t.Errorf("%s: %d %q", hashed["favicon"], resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	// The plain URLs, from older pages and themes, answer with a short (revalidated) cache.
	for _, p := range []string{"/static/style.css", "/theme.css", "/favicon.ico", "/static/passkey.js"} {
		resp, _ := fetch(p, "gzip")
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, no-cache" {
			t.Errorf("%s: %d, Cache-Control %q; want 200, public, no-cache", p, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
}
