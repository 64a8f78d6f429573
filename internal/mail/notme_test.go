package mail

import (
	"html"
	"strings"
	"testing"
)

// TestNotMeLink: every security notice shows the "This wasn't me" link, in text and HTML and
// in every language, when Data carries one, and no other kind shows it.
func TestNotMeLink(t *testing.T) {
	r := newTestRenderer(t)
	notices := map[string]bool{PasswordChanged: true, EmailChanged: true, MFAChanged: true, SecondStepFailed: true, SignInCode: true, NewSignIn: true}
	const link = "https://id.example.com/not-me?token=abc_DEF-123"
	for _, lang := range Languages() {
		for _, kind := range Kinds() {
			d := fullData()
			d.NotMeLink = link
			m, err := r.Render(kind, lang, d)
			if err != nil {
				t.Fatalf("%s/%s: %v", kind, lang, err)
			}
			inText, inHTML := strings.Contains(m.Text, link), strings.Contains(html.UnescapeString(m.HTML), `href="`+link+`"`)
			if notices[kind] && (!inText || !inHTML) {
				t.Errorf("%s/%s: the notice lacks the link (text %v, HTML %v)", kind, lang, inText, inHTML)
			}
			if !notices[kind] && inText {
				t.Errorf("%s/%s: not a security notice, yet its text shows the link", kind, lang)
			}
			d.NotMeLink = ""
			m, err = r.Render(kind, lang, d)
			if err != nil {
				t.Fatalf("%s/%s: %v", kind, lang, err)
			}
			if strings.Contains(m.Text, "not-me") || strings.Contains(m.HTML, "not-me") {
				t.Errorf("%s/%s: without a link the mail still mentions one", kind, lang)
			}
		}
	}
}
