package ui

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/myaccount/myaccount/internal/i18n"
)

// pageStatic is what every page in one language shows alike, rendered once when the handler
// is made rather than on every page: the language switcher's links and the WebAuthn error
// texts. Translations do not change while the server runs.
type pageStatic struct {
	// languageLinks is the switcher's links (languageLinksTemplate) cut where the page's
	// address goes: the address, escaped, joins them.
	languageLinks    []string
	webAuthnMessages template.HTMLAttr
}

// languageLinksTemplate is the language switcher as the layout wrote it: the link to each
// other language carries the page's address back, the current one is marked.
const languageLinksTemplate = `{{range .Languages}}{{if eq .Tag $.Lang}}<span aria-current="true">{{.Name}}</span>` +
	`{{else}}<a href="/lang?to={{.Tag}}&amp;back={{$.Here}}" hreflang="{{.Tag}}" lang="{{.Tag}}">{{.Name}}</a>{{end}} {{end}}`

// hereMark stands for the page's address while the links are rendered once: letters and
// digits, which every escaper leaves as they are, so it can be found in the output.
const hereMark = "HEREx7q3kz9MARK"

type languageLinksData struct {
	Languages []i18n.Language
	Lang      string
	Here      string
}

func newPageStatic(tr Translator, languages []i18n.Language, lang string) (*pageStatic, error) {
	t, err := template.New("languages").Parse(languageLinksTemplate)
	if err != nil {
		return nil, fmt.Errorf("ui: language links: %w", err)
	}
	var b strings.Builder
	if err := t.Execute(&b, languageLinksData{Languages: languages, Lang: lang, Here: hereMark}); err != nil {
		return nil, fmt.Errorf("ui: language links: %w", err)
	}
	return &pageStatic{
		languageLinks:    strings.Split(b.String(), hereMark),
		webAuthnMessages: webAuthnMessages(func(msg string, args ...any) string { return tr.T(lang, msg, args...) }),
	}, nil
}

// LanguageLinks is the language switcher's links, for {{.LanguageLinks}} in the layout.
func (c common) LanguageLinks() template.HTML {
	if c.static == nil {
		return languageLinks(c.Languages, c.Lang, c.Here)
	}
	chunks := c.static.languageLinks
	here := urlPartEscape(c.Here)
	n := len(here) * (len(chunks) - 1)
	for _, s := range chunks {
		n += len(s)
	}
	var b strings.Builder
	b.Grow(n)
	for i, s := range chunks {
		if i > 0 {
			b.WriteString(here)
		}
		b.WriteString(s)
	}
	return template.HTML(b.String())
}

// urlPartEscape escapes s as html/template escapes a value in a URL's query part: every byte
// but RFC 3986's unreserved ones as %xx in lower case (its urlEscaper, which html/template
// does not export; URLQueryEscaper is url.QueryEscape, which differs). What it leaves is
// plain ASCII that the attribute escaper after it keeps as is. FuzzLanguageLinks compares
// the result with the template's.
func urlPartEscape(s string) string {
	const hex = "0123456789abcdef"
	var b []byte
	written := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			continue
		}
		if b == nil {
			b = make([]byte, 0, len(s)+16)
		}
		b = append(b, s[written:i]...)
		b = append(b, '%', hex[c>>4], hex[c&15])
		written = i + 1
	}
	if b == nil {
		return s
	}
	return string(append(b, s[written:]...))
}

// languageLinks renders the switcher's links with the template itself.
func languageLinks(languages []i18n.Language, lang, here string) template.HTML {
	t := template.Must(template.New("languages").Parse(languageLinksTemplate))
	var b strings.Builder
	if err := t.Execute(&b, languageLinksData{Languages: languages, Lang: lang, Here: here}); err != nil {
		return "" // the template is ours and its data fits it: not reached
	}
	return template.HTML(b.String())
}
