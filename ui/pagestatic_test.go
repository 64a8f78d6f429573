package ui

import (
	"testing"

	"github.com/myaccount/myaccount/internal/i18n"
)

// The switcher's links and the WebAuthn texts rendered once per language must be what the
// template and the translations give on every page.
func TestPageStatic(t *testing.T) {
	b := newBundle(t)
	for _, l := range b.Languages() {
		st, err := newPageStatic(b, b.Languages(), l.Tag)
		if err != nil {
			t.Fatal(err)
		}
		c := common{Lang: l.Tag, Languages: b.Languages(), tr: b}
		if got, want := st.webAuthnMessages, c.WebAuthnMessages(); got != want {
			t.Errorf("%s: WebAuthn messages\n%s\nwant\n%s", l.Tag, got, want)
		}
		for _, here := range []string{"", "/login", "/login?authRequestID=a-b_c.d~e&return=%2Fdevice", "/x?q=a+b&c=<d>\"'`",
			"/ä/ü?ß=日本", "/\x00\x7f\xff", hereMark} {
			c.Here = here
			want := c.LanguageLinks() // without static: the template
			c.static = st
			if got := c.LanguageLinks(); got != want {
				t.Errorf("%s, %q:\n got %s\nwant %s", l.Tag, here, got, want)
			}
			c.static = nil
		}
	}
}

func FuzzLanguageLinks(f *testing.F) {
	for _, s := range []string{"/login?a=b&c=d", "%2F%zz", "a b+c", "\u2028\x00<>"} {
		f.Add(s)
	}
	b, err := i18n.New()
	if err != nil {
		f.Fatal(err)
	}
	st, err := newPageStatic(b, b.Languages(), "de")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, here string) {
		c := common{Lang: "de", Languages: b.Languages(), Here: here}
		want := c.LanguageLinks()
		c.static = st
		if got := c.LanguageLinks(); got != want {
			t.Errorf("%q:\n got %s\nwant %s", here, got, want)
		}
	})
}
