package ui

import (
	"mime"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/internal/consent"
	"github.com/myaccount/myaccount/internal/deviceapproval"
	"github.com/myaccount/myaccount/internal/guard"
	"github.com/myaccount/myaccount/internal/sessions"
)

// lazyTestConfig is the least New accepts; nothing here serves a request.
func lazyTestConfig(themeDir string) Config {
	key := make([]byte, 32)
	return Config{
		Keys:     Keys{CSRF: key, SealedCookies: key, DeviceCookie: key},
		Sessions: &sessions.Service{}, Consent: &consent.Service{}, Guard: &guard.Guard{},
		Devices: &deviceapproval.Service{}, ThemeDir: themeDir,
	}
}

// Pages are parsed on first use; each must parse then to the set New checked at the start.
func TestPagesParsedOnFirstUse(t *testing.T) {
	t.Parallel()
	h, err := New(lazyTestConfig(""))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.pages) != len(pageNames) {
		t.Fatalf("%d pages, want %d", len(h.pages), len(pageNames))
	}
	for _, name := range pageNames {
		t1, err := h.pages[name]()
		if err != nil {
			t.Fatalf("page %s: %v", name, err)
		}
		if t1.Lookup("layout") == nil || t1.Lookup(name+".html") == nil {
			t.Errorf("page %s: templates %s", name, t1.DefinedTemplates())
		}
		if t2, _ := h.pages[name](); t2 != t1 {
			t.Errorf("page %s parsed twice", name)
		}
	}
}

// A theme directory is still checked at the start, and what was checked is what is served,
// whatever happens to the directory afterwards.
func TestThemeDirPagesCheckedAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	msg := filepath.Join(dir, "templates", "message.html")
	if err := os.WriteFile(msg, []byte(`{{define "content"}}themed{{end}}{{define "broken"}}{{if}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(lazyTestConfig(dir)); err == nil || !strings.Contains(err.Error(), "parse message") {
		t.Fatalf("New with a broken theme template: %v, want a parse error", err)
	}
	if err := os.WriteFile(msg, []byte(`{{define "content"}}themed{{end}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := New(lazyTestConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(msg); err != nil {
		t.Fatal(err)
	}
	p, err := h.pages["message"]()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := p.ExecuteTemplate(&b, "content", nil); err != nil || b.String() != "themed" {
		t.Fatalf("themed page after its file went: %q, %v", b.String(), err)
	}
}

// staticTypes must say what mime.TypeByExtension says, on any host.
func TestStaticTypesAsMimePackage(t *testing.T) {
	t.Parallel()
	for ext, want := range staticTypes {
		if got := mime.TypeByExtension(ext); got != want {
			t.Errorf("%s: staticTypes %q, mime.TypeByExtension %q", ext, want, got)
		}
	}
}
