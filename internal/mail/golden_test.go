package mail

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/golden"
)

// goldenCases are the messages compared byte for byte with what the code rendered before
// rendering was made cheaper: every kind in every language, and the new sign-in notice with
// the variations a real one has (a zone with an offset, each date format, no link).
func goldenCases() map[string]struct {
	kind, lang string
	data       Data
} {
	cases := map[string]struct {
		kind, lang string
		data       Data
	}{}
	full := fullData()
	full.NotMeLink = "https://id.example.com/not-me?token=N0t-Me_123"
	full.TimeZone = "Europe/Berlin"
	for _, lang := range Languages() {
		for _, kind := range Kinds() {
			cases[lang+"_"+kind] = struct {
				kind, lang string
				data       Data
			}{kind, lang, full}
		}
		for i, f := range []string{"", "ymd", "dmy-dot", "dmy-slash", "mdy-slash", "long"} {
			d := Data{Email: "ada@example.com", At: time.Date(2026, 12, 6, 4, 5, 6, 0, time.UTC),
				TimeZone:   []string{"Asia/Kolkata", "America/St_Johns", "", "Unknown/Zone", "Europe/Moscow", "UTC"}[i],
				DateFormat: f, Link: "https://id.example.com/account/devices", NotMeLink: "https://id.example.com/not-me?token=x&y=<z>",
				IP: "2001:db8::1", UserAgent: `Chrome 131 on "Windows" <10>`, ProductName: "Acme & Co"}
			if i%2 == 1 {
				d.Link, d.IP = "", ""
			}
			cases[fmt.Sprintf("%s_new_sign_in_%d", lang, i)] = struct {
				kind, lang string
				data       Data
			}{NewSignIn, lang, d}
		}
	}
	return cases
}

func TestRenderGolden(t *testing.T) {
	r := newTestRenderer(t)
	for name, tc := range goldenCases() {
		m, err := r.Render(tc.kind, tc.lang, tc.data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := "Subject: " + m.Subject + "\n\n" + m.Text + "\n----\n" + m.HTML
		golden.Check(t, filepath.Join("testdata", "golden", name+".golden"), got)
	}
}

// BenchmarkRenderNewSignInNotice renders the notice a sign-in from a new browser sends, as
// internal/account fills it in.
func BenchmarkRenderNewSignInNotice(b *testing.B) {
	r, err := NewRenderer("MyAccount")
	if err != nil {
		b.Fatal(err)
	}
	for _, lang := range []string{"en", "de"} {
		b.Run(lang, func(b *testing.B) {
			d := Data{Email: "ada@example.com", At: time.Date(2026, 12, 6, 4, 5, 6, 0, time.UTC), TimeZone: "Europe/Berlin",
				Link: "https://id.example.com/account/devices", NotMeLink: "https://id.example.com/not-me?token=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd",
				IP: "192.0.2.7", UserAgent: "Firefox 140 on Linux"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Render(NewSignIn, lang, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestViewHasDataFields: view copies every field of Data (newView), so that a field added
// to Data reaches the templates.
func TestViewHasDataFields(t *testing.T) {
	dt, vt := reflect.TypeFor[Data](), reflect.TypeFor[view]()
	d := reflect.ValueOf(&Data{}).Elem()
	for i := range dt.NumField() {
		f := dt.Field(i)
		vf, ok := vt.FieldByName(f.Name)
		if !ok || vf.Type != f.Type {
			t.Errorf("view lacks Data.%s (%s)", f.Name, f.Type)
			continue
		}
		// A value only this field holds must come through newView.
		fv := d.Field(i)
		switch f.Type.Kind() {
		case reflect.String:
			fv.SetString("x-" + f.Name)
		case reflect.Bool:
			fv.SetBool(true)
		case reflect.Int64:
			fv.SetInt(int64(i + 1))
		}
		if f.Type == reflect.TypeFor[time.Time]() {
			fv.Set(reflect.ValueOf(time.Unix(int64(i+1), 0)))
		}
	}
	v := reflect.ValueOf(newView(d.Interface().(Data)))
	for i := range dt.NumField() {
		if got, want := v.FieldByName(dt.Field(i).Name).Interface(), d.Field(i).Interface(); got != want {
			t.Errorf("newView: %s = %v, want %v", dt.Field(i).Name, got, want)
		}
	}
	for _, k := range Kinds() {
		if !isKind(k) {
			t.Errorf("isKind(%q) = false", k)
		}
	}
	if isKind("nope") || isKind("") {
		t.Error("isKind accepts an unknown kind")
	}
}

// tidyTextSplit is tidyText as it was written first, by splitting and joining lines.
func tidyTextSplit(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" && len(out) > 0 && out[len(out)-1] == "" {
			continue
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n")) + "\n"
}

func FuzzTidyText(f *testing.F) {
	for _, s := range []string{"", "\n", "a", " a \n\n\n b\t\r\n\r\n\r\nc\r", "\r\r\n", "x \r", "\n\n a", "a\n \n\t\nb\n\n",
		"\u00a0x\u0085\n\n", "a\rb\r\n\r"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := tidyText(s), tidyTextSplit(s); got != want {
			t.Errorf("tidyText(%q) = %q, want %q", s, got, want)
		}
	})
}
