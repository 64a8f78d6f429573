package mail

import (
	"errors"
	"html"
	"strings"
	"testing"
	"time"
)

func newTestRenderer(t *testing.T) *Renderer {
	t.Helper()
	r, err := NewRenderer("MyAccount")
	if err != nil {
		t.Fatalf("NewRenderer: %v", err)
	}
	return r
}

// fullData sets every field, with a link long enough and odd enough (query string, '=',
// '&', percent-escapes) to catch escaping and wrapping mistakes.
func fullData() Data {
	return Data{
		Email:     "ada@example.com",
		Link:      "https://id.example.com/activate?token=AbC-123_xyz%2Fq&lang=de",
		ResetLink: "https://id.example.com/password/reset?email=ada%40example.com",
		Code:      "482913",
		NewEmail:  "ada.new@example.org",
		Factor:    "totp",
		Until:     time.Date(2026, 3, 5, 13, 30, 0, 0, time.UTC),
		At:        time.Date(2026, 3, 4, 21, 47, 0, 0, time.UTC),
		TimeZone:  "UTC",
		IP:        "192.0.2.7",
		UserAgent: "Firefox 140 on Linux",
	}
}

func TestRenderEveryKindInEveryLanguage(t *testing.T) {
	r := newTestRenderer(t)
	d := fullData()
	for _, lang := range Languages() {
		for _, kind := range Kinds() {
			t.Run(lang+"/"+kind, func(t *testing.T) {
				m, err := r.Render(kind, lang, d)
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				if m.To != "" {
					t.Errorf("To = %q, want empty: the caller picks the recipient", m.To)
				}
				if m.Subject == "" || m.Text == "" || m.HTML == "" {
					t.Fatalf("empty part: subject %q, text %d bytes, html %d bytes", m.Subject, len(m.Text), len(m.HTML))
				}
				if !strings.Contains(m.Subject, "MyAccount") {
					t.Errorf("subject %q lacks the product name", m.Subject)
				}
				if strings.ContainsAny(m.Subject, "\r\n") {
					t.Errorf("subject %q spans lines", m.Subject)
				}
				for _, part := range []struct{ name, s string }{{"text", m.Text}, {"html", m.HTML}} {
					for _, bad := range []string{"<no value>", "{{", "%!"} {
						if strings.Contains(part.s, bad) {
							t.Errorf("%s contains %q:\n%s", part.name, bad, part.s)
						}
					}
				}
				wantText, wantHTML := mustContain(kind, d)
				for _, w := range wantText {
					if !strings.Contains(m.Text, w) {
						t.Errorf("text lacks %q:\n%s", w, m.Text)
					}
				}
				for _, w := range wantHTML {
					if !strings.Contains(m.HTML, w) {
						t.Errorf("html lacks %q:\n%s", w, m.HTML)
					}
				}
				if !strings.Contains(m.HTML, `<html lang="`+lang+`">`) {
					t.Errorf("html does not declare lang %q", lang)
				}
				// Self-contained: nothing a mail client would fetch.
				for _, bad := range []string{"<img", "<link", "src=", "url(", "<script", "@import"} {
					if strings.Contains(m.HTML, bad) {
						t.Errorf("html contains %q", bad)
					}
				}
			})
		}
	}
}

// mustContain lists what each kind must show, in text and (HTML-escaped) in HTML.
func mustContain(kind string, d Data) (text, html []string) {
	esc := func(s string) string { return strings.ReplaceAll(s, "&", "&amp;") }
	switch kind {
	case Activation, ActivationReminder, PasswordReset, Lockout, EmailChangeVerify,
		PasswordChanged, EmailChanged, MFAChanged, NewSignIn, AccountDeleted:
		text = append(text, "\n"+d.Link+"\n") // on a line of its own
		html = append(html, `href="`+esc(d.Link)+`"`, ">"+esc(d.Link)+"</a>")
	case AlreadyRegistered:
		text = append(text, "\n"+d.Link+"\n", "\n"+d.ResetLink+"\n")
		html = append(html, `href="`+esc(d.Link)+`"`, `href="`+esc(d.ResetLink)+`"`)
	case SignInCode:
		text = append(text, d.Code)
		html = append(html, d.Code)
	}
	switch kind {
	case EmailChangeVerify, EmailChanged:
		text = append(text, d.NewEmail)
		html = append(html, d.NewEmail)
	case Lockout:
		text = append(text, "2026", "13:30")
		html = append(html, "2026", "13:30")
	case NewSignIn:
		text = append(text, "2026", "21:47", d.IP, d.UserAgent)
		html = append(html, "2026", "21:47", d.IP, d.UserAgent)
	}
	return text, html
}

func TestRenderValidity(t *testing.T) {
	r := newTestRenderer(t)
	cases := []struct {
		kind, lang string
		d          Data
		want       string
	}{
		{Activation, "en", Data{Link: "https://x/a"}, "valid for 5 days"},
		{Activation, "de", Data{Link: "https://x/a"}, "5 Tage gültig"},
		{Activation, "ru", Data{Link: "https://x/a"}, "действительна 5 дней"},
		{PasswordReset, "en", Data{Link: "https://x/r"}, "valid for 1 hour"},
		{PasswordReset, "de", Data{Link: "https://x/r"}, "eine Stunde gültig"},
		{PasswordReset, "ru", Data{Link: "https://x/r"}, "действительна 1 час"},
		{SignInCode, "en", Data{Code: "1"}, "valid for 10 minutes"},
		{SignInCode, "de", Data{Code: "1"}, "10 Minuten gültig"},
		{SignInCode, "ru", Data{Code: "1"}, "действителен 10 минут"},
		{PasswordReset, "ru", Data{Link: "https://x/r", ValidFor: 2 * time.Hour}, "действительна 2 часа"},
		{PasswordReset, "ru", Data{Link: "https://x/r", ValidFor: 21 * time.Minute}, "действительна 21 минуту"},
		{PasswordReset, "en", Data{Link: "https://x/r", ExpiresIn: "until midnight"}, "valid for until midnight"},
		{EmailChangeVerify, "de", Data{Link: "https://x/e", NewEmail: "n@x", ValidFor: 24 * time.Hour}, "einen Tag gültig"},
	}
	for _, c := range cases {
		m, err := r.Render(c.kind, c.lang, c.d)
		if err != nil {
			t.Fatalf("%s/%s: %v", c.lang, c.kind, err)
		}
		if !strings.Contains(m.Text, c.want) || !strings.Contains(m.HTML, c.want) {
			t.Errorf("%s/%s: want %q in text and html; text:\n%s", c.lang, c.kind, c.want, m.Text)
		}
	}
	// Without a validity, EmailChangeVerify says nothing about one rather than inventing it.
	m, err := r.Render(EmailChangeVerify, "en", Data{Link: "https://x/e", NewEmail: "n@x"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.Text, "valid for") {
		t.Errorf("EmailChangeVerify invents a validity:\n%s", m.Text)
	}
}

func TestRenderLanguageMatching(t *testing.T) {
	r := newTestRenderer(t)
	subjects := map[string]string{}
	for _, lang := range Languages() {
		m, err := r.Render(PasswordReset, lang, Data{Link: "https://x/r"})
		if err != nil {
			t.Fatal(err)
		}
		subjects[lang] = m.Subject
	}
	cases := map[string]string{
		"":                        "en",
		"en":                      "en",
		"fr":                      "en",
		"fr-FR":                   "en",
		"xx-unknown":              "en",
		"not a tag at all!":       "en",
		"de":                      "de",
		"de-CH":                   "de",
		"DE-at":                   "de",
		"de_CH":                   "de",
		"ru":                      "ru",
		"ru-RU":                   "ru",
		"uk, ru;q=0.8, en;q=0.5":  "ru",
		"fr-CH, de;q=0.9, en;q=0": "de",
		"xx, de":                  "de",
	}
	for in, want := range cases {
		if got := MatchLanguage(in); got != want {
			t.Errorf("MatchLanguage(%q) = %q, want %q", in, got, want)
		}
		m, err := r.Render(PasswordReset, in, Data{Link: "https://x/r"})
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != subjects[want] {
			t.Errorf("Render(lang %q) subject %q, want the %s one %q", in, m.Subject, want, subjects[want])
		}
	}
}

func TestRenderSubjectsAreLocalized(t *testing.T) {
	r := newTestRenderer(t)
	ru, _ := r.Render(PasswordChanged, "ru", Data{})
	de, _ := r.Render(PasswordChanged, "de", Data{})
	if ru.Subject != "Пароль вашего аккаунта MyAccount изменён" {
		t.Errorf("ru subject = %q", ru.Subject)
	}
	if de.Subject != "Ihr Passwort für MyAccount wurde geändert" {
		t.Errorf("de subject = %q", de.Subject)
	}
}

func TestRenderRequiredFieldsAndUnknownKind(t *testing.T) {
	r := newTestRenderer(t)
	for _, kind := range []string{Activation, AlreadyRegistered, ActivationReminder, PasswordReset,
		Lockout, EmailChangeVerify, EmailChanged, SignInCode, MFAChanged, NewSignIn} {
		if _, err := r.Render(kind, "en", Data{}); err == nil {
			t.Errorf("%s with empty Data rendered; want an error naming the missing field", kind)
		}
	}
	for _, kind := range []string{PasswordChanged, AccountDeleted} {
		if _, err := r.Render(kind, "en", Data{}); err != nil {
			t.Errorf("%s is a notice and needs nothing, got %v", kind, err)
		}
	}
	if _, err := r.Render("nope", "en", fullData()); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("unknown kind: err = %v, want ErrUnknownKind", err)
	}
	if _, err := NewRenderer("  "); err == nil {
		t.Error("NewRenderer with an empty product name succeeded")
	}
}

func TestRenderEscapesHTMLAndKeepsTextPlain(t *testing.T) {
	r := newTestRenderer(t)
	d := fullData()
	d.UserAgent = `<script>alert("x")</script>`
	d.Link = `javascript:alert(1)`
	m, err := r.Render(PasswordReset, "en", d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, `href="javascript:`) {
		t.Errorf("HTML not escaped:\n%s", m.HTML)
	}
	if !strings.Contains(m.Text, `<script>alert("x")</script>`) {
		t.Errorf("text should show the user agent verbatim:\n%s", m.Text)
	}
}

func TestRenderProductNameAndOptionalParts(t *testing.T) {
	r := newTestRenderer(t)
	m, err := r.Render(AccountDeleted, "de", Data{ProductName: "Acme ID"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Subject, "Acme ID") || strings.Contains(m.Text, "MyAccount") {
		t.Errorf("Data.ProductName not used throughout: %q\n%s", m.Subject, m.Text)
	}
	if strings.Contains(m.Text, "Angaben zur Anfrage") || strings.Contains(m.HTML, "Angaben zur Anfrage") {
		t.Errorf("request details shown without IP or user agent")
	}

	added, _ := r.Render(MFAChanged, "en", Data{Factor: "webauthn"})
	removed, _ := r.Render(MFAChanged, "en", Data{Factor: "webauthn", FactorRemoved: true})
	if added.Subject == removed.Subject || !strings.Contains(removed.Text, "removed") ||
		!strings.Contains(added.Text, "added") || !strings.Contains(added.Text, "security key") {
		t.Errorf("MFAChanged added/removed:\n%s\n---\n%s", added.Text, removed.Text)
	}
	custom, _ := r.Render(MFAChanged, "ru", Data{Factor: "YubiKey 5C"})
	if !strings.Contains(custom.Text, "YubiKey 5C") {
		t.Errorf("unknown factor names must pass through:\n%s", custom.Text)
	}

	lock, _ := r.Render(Lockout, "ru", Data{Link: "https://x/r"})
	if !strings.Contains(lock.Text, "временно") {
		t.Errorf("Lockout without Until should say 'temporarily':\n%s", lock.Text)
	}
	lock, _ = r.Render(Lockout, "de", Data{Link: "https://x/r",
		Until: time.Date(2026, 3, 5, 13, 30, 0, 0, time.UTC), TimeZone: "Europe/Berlin"})
	if !strings.Contains(lock.Text, "bis zum 5. März 2026, 14:30 Uhr (UTC+1)") {
		t.Errorf("Lockout until, in the user's zone:\n%s", lock.Text)
	}
	// A new sign-in is told in the person's zone and date format.
	at := time.Date(2026, 3, 5, 23, 30, 0, 0, time.UTC)
	for _, c := range []struct{ lang, zone, format, want, when string }{
		{"de", "Europe/Berlin", "dmy-dot", "am 06.03.2026, 00:30 Uhr (UTC+1) ein Browser", "06.03.2026, 00:30 Uhr (UTC+1)"},
		{"en", "America/New_York", "", "on 5 March 2026, 18:30 (UTC-5) from", "5 March 2026, 18:30 (UTC-5)"},
		{"ru", "Asia/Vladivostok", "", "6 марта 2026\u202fг., 09:30 (UTC+10) в ваш аккаунт", "6 марта 2026\u202fг., 09:30 (UTC+10)"},
	} {
		m, err := r.Render(NewSignIn, c.lang, Data{At: at, TimeZone: c.zone, DateFormat: c.format})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(m.Text, c.want) || !strings.Contains(html.UnescapeString(m.HTML), "<strong>"+c.when+"</strong>") {
			t.Errorf("NewSignIn (%s, %s): want %q:\n%s", c.lang, c.zone, c.want, m.Text)
		}
	}
}

func TestFormatHelpers(t *testing.T) {
	at := time.Date(2026, 12, 1, 8, 5, 0, 0, time.UTC)
	for lang, want := range map[string]string{
		"en": "1 December 2026, 08:05 (UTC)",
		"de": "1. Dezember 2026, 08:05 Uhr (UTC)",
		"ru": "1 декабря 2026\u202fг., 08:05 (UTC)",
	} {
		if got := formatTime(lang, at, "No/Such_Zone", ""); got != want {
			t.Errorf("formatTime(%s) = %q, want %q", lang, got, want)
		}
	}
	// The person's zone and chosen format: an offset, never a bare clock time.
	if got := formatTime("de", at, "Europe/Berlin", "dmy-dot"); got != "01.12.2026, 09:05 Uhr (UTC+1)" {
		t.Errorf("formatTime(de, Berlin, dmy-dot) = %q", got)
	}
	if got := formatTime("ru", at, "Asia/Vladivostok", ""); got != "1 декабря 2026\u202fг., 18:05 (UTC+10)" {
		t.Errorf("formatTime(ru, Vladivostok) = %q", got)
	}
}
