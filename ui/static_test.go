package ui

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/andybalholm/brotli"

	"github.com/myaccount/myaccount/ui/web"
)

func testAssets(t *testing.T, files any, accent string) *assets {
	t.Helper()
	th, err := deriveTheme(accent)
	if err != nil {
		t.Fatal(err)
	}
	var a *assets
	switch f := files.(type) {
	case overlayFS:
		a, err = loadAssets(f, th)
	default:
		a, err = loadAssets(web.FS, th)
	}
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func get(t *testing.T, h http.Handler, target string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) []byte {
	t.Helper()
	var rd io.Reader = r.Body
	switch r.Header.Get("Content-Encoding") {
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		rd = zr
	case "br":
		rd = brotli.NewReader(r.Body)
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestStaticHashedNamesAndCaching(t *testing.T) {
	a := testAssets(t, nil, defaultAccent)
	css, _ := web.FS.ReadFile("static/style.css")
	u := a.url("style.css")
	if !hashedRE.MatchString(strings.TrimPrefix(u, "/static/")) || !strings.HasPrefix(u, "/static/style.") {
		t.Fatalf("url(style.css) = %q, want /static/style.<hash>.css", u)
	}
	if a.url("nope.css") != "/static/nope.css" {
		t.Errorf("an unknown file keeps its plain URL, got %q", a.url("nope.css"))
	}

	r := get(t, a, strings.TrimPrefix(u, "/static"))
	if r.StatusCode != 200 || r.Header.Get("Cache-Control") != immutableCache {
		t.Errorf("hashed: %d, Cache-Control %q; want 200 and %q", r.StatusCode, r.Header.Get("Cache-Control"), immutableCache)
	}
	if !bytes.Equal(body(t, r), css) || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/css") {
		t.Errorf("hashed URL served %q, not style.css", r.Header.Get("Content-Type"))
	}
	etag := r.Header.Get("ETag")

	// The plain name still works, revalidated each time.
	r = get(t, a, "/style.css")
	if r.StatusCode != 200 || r.Header.Get("Cache-Control") != revalidateCache || !bytes.Equal(body(t, r), css) {
		t.Errorf("plain: %d, Cache-Control %q", r.StatusCode, r.Header.Get("Cache-Control"))
	}
	if r := get(t, a, "/style.css", "If-None-Match", etag); r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match %s: %d, want 304", etag, r.StatusCode)
	}
	// Another deployment's hash: today's file, not promised immutable.
	r = get(t, a, "/style.0123456789ab.css")
	if r.StatusCode != 200 || r.Header.Get("Cache-Control") != revalidateCache || !bytes.Equal(body(t, r), css) {
		t.Errorf("old hash: %d, Cache-Control %q", r.StatusCode, r.Header.Get("Cache-Control"))
	}
	for _, p := range []string{"/", "/nope.css", "/style.0123456789ab.js", "/../templates/layout.html"} {
		if r := get(t, a, p); r.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, r.StatusCode)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/style.css", nil)
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", rec.Code)
	}
}

func TestStaticCompression(t *testing.T) {
	a := testAssets(t, nil, defaultAccent)
	css, _ := web.FS.ReadFile("static/style.css")
	u := strings.TrimPrefix(a.url("style.css"), "/static")
	for _, c := range []struct{ accept, want string }{
		{"gzip, deflate, br, zstd", "br"},
		{"gzip", "gzip"},
		{"br;q=0, gzip;q=0.5", "gzip"},
		{"identity", ""},
		{"", ""},
		{"*", ""},
	} {
		r := get(t, a, u, "Accept-Encoding", c.accept)
		if got := r.Header.Get("Content-Encoding"); got != c.want {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", c.accept, got, c.want)
		}
		if r.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: Vary %q", c.accept, r.Header.Get("Vary"))
		}
		if n := r.Header.Get("Content-Length"); c.want != "" && n == "" {
			t.Errorf("Accept-Encoding %q: no Content-Length", c.accept)
		}
		if c.want != "" {
			etag := r.Header.Get("ETag")
			if r := get(t, a, u, "Accept-Encoding", c.accept, "If-None-Match", etag); r.StatusCode != http.StatusNotModified {
				t.Errorf("Accept-Encoding %q, If-None-Match %s: %d, want 304", c.accept, etag, r.StatusCode)
			}
		}
		if b := body(t, r); !bytes.Equal(b, css) {
			t.Errorf("Accept-Encoding %q: the decoded body differs from style.css", c.accept)
		}
	}
	// Images are already compressed: served as they are.
	png := overlayFS{top: fstest.MapFS{"static/logo.png": {Data: bytes.Repeat([]byte{0x89, 'P', 'N', 'G', 0}, 400)}}, base: web.FS}
	b := testAssets(t, png, defaultAccent)
	r := get(t, b, "/logo.png", "Accept-Encoding", "br, gzip")
	if r.Header.Get("Content-Encoding") != "" || r.Header.Get("Content-Type") != "image/png" {
		t.Errorf("logo.png: Content-Encoding %q, Content-Type %q", r.Header.Get("Content-Encoding"), r.Header.Get("Content-Type"))
	}
}

func TestStaticThemeOverlayAndGeneratedFiles(t *testing.T) {
	// A theme directory overrides an embedded file and adds its own; the hashes follow.
	over := overlayFS{top: fstest.MapFS{
		"static/style.css": {Data: []byte("body{color:red}")},
		"static/logo.svg":  {Data: []byte("<svg/>")},
	}, base: web.FS}
	a := testAssets(t, over, "#f59e0b")
	plain := testAssets(t, nil, "#f59e0b")
	if a.url("style.css") == plain.url("style.css") {
		t.Error("an overridden style.css kept the embedded file's hash")
	}
	if got := body(t, get(t, a, "/style.css")); string(got) != "body{color:red}" {
		t.Errorf("style.css = %q, want the theme directory's", got)
	}
	if r := get(t, a, "/logo.svg"); r.StatusCode != 200 {
		t.Errorf("the theme directory's logo.svg: %d", r.StatusCode)
	}
	if r := get(t, a, "/passkey.js"); r.StatusCode != 200 {
		t.Errorf("an embedded file not overridden: %d", r.StatusCode)
	}

	// theme.css and the favicon are generated from the accent.
	th, _ := deriveTheme("#f59e0b")
	if got := string(body(t, get(t, a, strings.TrimPrefix(a.url("theme.css"), "/static")))); got != th.CSS() {
		t.Errorf("theme.css = %q, want %q", got, th.CSS())
	}
	fav := string(body(t, get(t, a, "/favicon.svg")))
	if !strings.Contains(fav, `fill="#f59e0b"`) || !strings.Contains(fav, `fill="#000000"`) || strings.Contains(fav, defaultAccent) {
		t.Errorf("the favicon is not painted in the accent with readable contrast:\n%s", fav)
	}
	if testAssets(t, nil, defaultAccent).url("favicon.svg") == a.url("favicon.svg") {
		t.Error("the favicon's hash does not follow its colour")
	}
}

func TestStaticAcceptEncodingParsing(t *testing.T) {
	q := acceptQ(" GZIP ; q=0.8 ,br;q=0,deflate")
	if q["gzip"] != 0.8 || q["br"] != 0 || q["deflate"] != 1 {
		t.Errorf("acceptQ = %v", q)
	}
}

// TestStaticFailuresNotCached: only the file itself carries its Cache-Control; a failed
// condition (412) and an unsatisfiable range (416), answers to one request, carry no-store,
// or a cache would keep them under the file's URL (a hashed one for a year). A range and a
// 304 keep the file's.
func TestStaticFailuresNotCached(t *testing.T) {
	a := testAssets(t, nil, defaultAccent)
	hashed := strings.TrimPrefix(a.url("style.css"), "/static")
	for _, c := range []struct {
		name, target string
		hdr          []string
		status       int
		cache        string
	}{
		{"failed If-Match", hashed, []string{"If-Match", `"nope"`}, http.StatusPreconditionFailed, "no-store"},
		{"failed If-Unmodified-Since", "/style.css", []string{"If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"}, http.StatusPreconditionFailed, "no-store"},
		{"range past the end", hashed, []string{"Range", "bytes=99999999-"}, http.StatusRequestedRangeNotSatisfiable, "no-store"},
		{"a range", hashed, []string{"Range", "bytes=0-9"}, http.StatusPartialContent, immutableCache},
		{"the whole file", hashed, nil, http.StatusOK, immutableCache},
	} {
		r := get(t, a, c.target, c.hdr...)
		if r.StatusCode != c.status || r.Header.Get("Cache-Control") != c.cache {
			t.Errorf("%s: %d, Cache-Control %q; want %d and %q", c.name, r.StatusCode, r.Header.Get("Cache-Control"), c.status, c.cache)
		}
	}
	etag := get(t, a, hashed).Header.Get("ETag")
	if r := get(t, a, hashed, "If-None-Match", etag); r.StatusCode != http.StatusNotModified || r.Header.Get("Cache-Control") != immutableCache {
		t.Errorf("If-None-Match: %d, Cache-Control %q", r.StatusCode, r.Header.Get("Cache-Control"))
	}
}
