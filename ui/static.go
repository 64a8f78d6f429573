package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/myaccount/myaccount/ui/web"
)

// Static files are read once at startup and served under content-hashed names
// (/static/style.3f2a9c1e5d7b.css, from the template function "asset") with a one-year
// immutable cache: a changed file gets a new name, so no browser keeps an old stylesheet.
// The plain names (/static/style.css) keep working for pages and themes that use them,
// revalidated on every use (ETag) so they are never stale either.
//
// Compression and BREACH: static files carry no secrets, so they are served with brotli or
// gzip (compressed once, on first demand). HTML pages are deliberately not compressed: every
// page carries the CSRF token (meta tag and forms) and reflects attacker-chosen input (the
// request URL in the language links, form fields), the two ingredients of BREACH; the pages
// are small (≈16 KB) and no-store anyway. Images and fonts are already compressed and are
// served as they are.

const (
	hashLen = 12 // hex digits of SHA-256 in a hashed name: 48 bits, no collisions in practice
	// immutableCache is for hashed names: the name changes when the content does.
	immutableCache = "public, max-age=31536000, immutable"
	// revalidateCache is for plain names and hashes of a previous deployment: stored, but
	// checked (a cheap 304) before each use.
	revalidateCache = "public, no-cache"
	// compressMin: below this, headers outweigh what compression saves.
	compressMin = 512
	// maxAssetSize bounds what a theme directory may put in memory per file.
	maxAssetSize = 8 << 20
)

// asset is one static file held in memory.
type asset struct {
	name     string // "style.css"
	hashed   string // "style.3f2a9c1e5d7b.css"
	url      string // "/static/" + hashed, for templates (built once, not per page)
	hash     string
	ctype    string
	body     []byte
	compress bool // text-like and big enough

	once   sync.Once
	gz, br []byte // nil where compressing did not pay
}

// assets is the static file set, by plain and by hashed name.
type assets struct {
	byName   map[string]*asset
	byHashed map[string]*asset
	modTime  time.Time // for Last-Modified: when this process read the files
}

// staticTypes are the content types of the embedded files' extensions, as Go's built-in
// table has them (a host's MIME database cannot override those). mime.TypeByExtension reads
// the host's whole database on its first call (about 440 KB of heap for the life of the
// process on a desktop Linux); it is left for the extensions only a theme directory brings.
var staticTypes = map[string]string{
	".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml",
	".png": "image/png", ".ico": "image/vnd.microsoft.icon", ".json": "application/json",
}

// hashedRE splits "name.<hash>.ext" into name and ext.
var hashedRE = regexp.MustCompile(`^(.*)\.([0-9a-f]{` + strconv.Itoa(hashLen) + `})(\.[^./]+)$`)

// loadAssets reads every file under static/ of files (the embedded set with a theme
// directory's overrides) and adds generated files (theme.css, the coloured favicon) that
// the theme directory does not override.
func loadAssets(files fs.FS, th theme) (*assets, error) {
	a := &assets{byName: map[string]*asset{}, byHashed: map[string]*asset{}, modTime: time.Now().UTC().Truncate(time.Second)}
	// An overlay lists only its top layer's directory, so walk each layer for names and
	// read each name through the overlay, which picks the top layer's file.
	layers := []fs.FS{files}
	if o, ok := files.(overlayFS); ok {
		layers = []fs.FS{o.top, o.base}
	}
	seen := map[string]bool{}
	for i, layer := range layers {
		err := fs.WalkDir(layer, "static", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || seen[p] {
				return nil
			}
			seen[p] = true
			info, err := d.Info()
			if err != nil {
				return err
			}
			if info.Size() > maxAssetSize {
				return fmt.Errorf("%s is larger than %d MiB", p, maxAssetSize>>20)
			}
			body, err := fs.ReadFile(files, p)
			if err != nil {
				return err
			}
			a.add(strings.TrimPrefix(p, "static/"), body)
			return nil
		})
		if err != nil && !(i == 0 && len(layers) > 1 && errors.Is(err, fs.ErrNotExist)) {
			return nil, fmt.Errorf("ui: static files: %w", err)
		}
	}
	if _, ok := a.byName["theme.css"]; !ok {
		a.add("theme.css", []byte(th.CSS()))
	}
	// The embedded favicon is drawn in the default colours; paint it in the operator's.
	if f := a.byName["favicon.svg"]; f != nil {
		if orig, err := web.FS.ReadFile("static/favicon.svg"); err == nil && bytes.Equal(f.body, orig) {
			svg := strings.NewReplacer(`fill="`+defaultAccent+`"`, `fill="`+th.Accent+`"`,
				`fill="#ffffff"`, `fill="`+th.OnAccent+`"`).Replace(string(orig))
			a.add("favicon.svg", []byte(svg))
		}
	}
	return a, nil
}

func (a *assets) add(name string, body []byte) {
	if old := a.byName[name]; old != nil {
		delete(a.byHashed, old.hashed)
	}
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])[:hashLen]
	ext := path.Ext(name)
	ctype := staticTypes[ext]
	if ctype == "" {
		ctype = mime.TypeByExtension(ext)
	}
	if ctype == "" {
		ctype = http.DetectContentType(body)
	}
	hashed := strings.TrimSuffix(name, ext) + "." + h + ext
	as := &asset{name: name, hashed: hashed, url: "/static/" + hashed, hash: h, ctype: ctype, body: body,
		compress: len(body) >= compressMin && compressible(ctype)}
	a.byName[name] = as
	a.byHashed[as.hashed] = as
}

// compressible reports whether a type is text-like: images other than SVG, audio, video and
// fonts (woff2 is brotli already) are not worth it.
func compressible(ctype string) bool {
	mt, _, _ := mime.ParseMediaType(ctype)
	switch {
	case strings.HasPrefix(mt, "text/"):
		return true
	case mt == "application/javascript", mt == "application/json", mt == "application/manifest+json",
		mt == "image/svg+xml", mt == "image/x-icon", mt == "image/vnd.microsoft.icon", mt == "application/wasm":
		return true
	}
	return false
}

// url is the hashed URL of a static file, for templates ({{asset "style.css"}}); a name we
// do not hold keeps its plain URL, which then answers 404 as before.
func (a *assets) url(name string) string {
	name = strings.TrimPrefix(name, "/")
	if as := a.byName[name]; as != nil {
		return as.url
	}
	return "/static/" + name
}

// ServeHTTP serves the path below /static/.
func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/")
	if as := a.byHashed[name]; as != nil {
		a.serve(w, r, as, immutableCache)
		return
	}
	if as := a.byName[name]; as != nil {
		a.serve(w, r, as, revalidateCache)
		return
	}
	// A hash from another deployment (a page cached during a rolling update): today's file,
	// but not under the promise that it never changes.
	if m := hashedRE.FindStringSubmatch(name); m != nil {
		if as := a.byName[m[1]+m[3]]; as != nil {
			a.serve(w, r, as, revalidateCache)
			return
		}
	}
	http.NotFound(w, r)
}

// serveName serves a file under a fixed URL outside /static/ (/theme.css, /favicon.ico).
func (a *assets) serveName(w http.ResponseWriter, r *http.Request, name string) {
	if as := a.byName[name]; as != nil {
		a.serve(w, r, as, revalidateCache)
		return
	}
	http.NotFound(w, r)
}

func (a *assets) serve(w http.ResponseWriter, r *http.Request, as *asset, cache string) {
	w = fileOnlyCached{w}
	hd := w.Header()
	hd.Set("Cache-Control", cache)
	hd.Set("Content-Type", as.ctype)
	hd.Set("X-Content-Type-Options", "nosniff")
	body, etag := as.body, `"`+as.hash+`"`
	if as.compress {
		hd.Add("Vary", "Accept-Encoding")
		as.once.Do(as.compressNow)
		q := acceptQ(r.Header.Get("Accept-Encoding"))
		switch {
		case q["br"] > 0 && as.br != nil:
			body, etag = as.br, `"`+as.hash+`-br"`
			hd.Set("Content-Encoding", "br")
		case q["gzip"] > 0 && as.gz != nil:
			body, etag = as.gz, `"`+as.hash+`-gz"`
			hd.Set("Content-Encoding", "gzip")
		}
	}
	hd.Set("ETag", etag)
	if hd.Get("Content-Encoding") == "" {
		http.ServeContent(w, r, "", a.modTime, bytes.NewReader(body))
		return
	}
	// ServeContent drops Content-Length when an encoding is set (it expects one to be applied
	// later); ours is applied already, so answer by hand, without ranges (allowed by RFC 9110).
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		hd.Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Last-Modified", a.modTime.Format(http.TimeFormat))
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// etagMatches is If-None-Match's weak comparison.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// compressNow fills gz and br, keeping each only where it is clearly smaller.
func (as *asset) compressNow() {
	var gb bytes.Buffer
	if zw, err := gzip.NewWriterLevel(&gb, gzip.BestCompression); err == nil {
		_, _ = zw.Write(as.body)
		if zw.Close() == nil && gb.Len() < len(as.body)*9/10 {
			as.gz = gb.Bytes()
		}
	}
	var bb bytes.Buffer
	bw := brotli.NewWriterLevel(&bb, brotli.BestCompression)
	_, _ = bw.Write(as.body)
	if bw.Close() == nil && bb.Len() < len(as.body)*9/10 {
		as.br = bb.Bytes()
	}
}

// acceptQ parses Accept-Encoding into coding → q ("*" is not honoured: we only send what a
// client names).
func acceptQ(accept string) map[string]float64 {
	out := map[string]float64{}
	for _, part := range strings.Split(accept, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding == "" {
			continue
		}
		q := 1.0
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(strings.ToLower(k)) == "q" {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				q = f
			}
		}
		out[coding] = q
	}
	return out
}

// fileOnlyCached lets only the file itself be stored (200, a range of it, 304): a failed
// condition (412) or an unsatisfiable range (416) answers one request, and stored under the
// file's URL (for a year, for a hashed name) it would stand in for the file. Those answers
// carry no-store instead of the file's Cache-Control; http.ServeContent writes them.
type fileOnlyCached struct{ http.ResponseWriter }

func (w fileOnlyCached) WriteHeader(code int) {
	switch code {
	case http.StatusOK, http.StatusPartialContent, http.StatusNotModified:
	default:
		w.Header().Set("Cache-Control", "no-store")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w fileOnlyCached) Unwrap() http.ResponseWriter { return w.ResponseWriter }
