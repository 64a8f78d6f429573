package i18n

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

const page = `{{define "page"}}<h1>{{T "Sign in"}}</h1>
<p>{{.T "to continue to %s" .ClientName}}</p>
{{- if .Err}}<p>{{$.T "The email or password is incorrect."}}</p>{{else}}{{T "Welcome"}}{{end}}
{{range .Items}}<li>{{$.T .What}}</li>{{end}}
{{with .X}}{{printf "%s!" (T "Nested in a pipeline")}}{{end}}
<input placeholder="{{T .Lang "Explicit language"}}">
{{template "part" (T "Passed to a template")}}
{{/* {{T "In a comment"}} */}}
<p>T "Not in an action"</p>
{{T ` + "`Raw string`" + `}}
{{end}}`

const goSrc = `package ui

import "github.com/myaccount/myaccount/internal/i18n"

var scopes = map[string]string{
	"email": i18n.N("See your email address"),
}

func f(b bundle, c common, lang string, msg string) {
	_ = b.T(lang, "Go message")
	_ = b.T(lang, "Go message with %s", "arg")
	_ = c.T("Bound language")
	_ = c.T("Bound with %d", 3)
	_ = h.cfg.I18n.T(lang,
		"Across lines")
	_ = b.T(lang, msg)      // computed: cannot be seen
	_ = b.T("de", msg)      // "de" is the language
	_ = T(lang, ` + "`Raw in Go`" + `)
	// T(lang, "In a comment")
	_ = "T(lang, \"In a string\")"
	_ = other("Not translated")
}
`

func TestExtract(t *testing.T) {
	fsys := fstest.MapFS{
		"web/templates/page.html":  {Data: []byte(page)},
		"web/templates/part.tmpl":  {Data: []byte(`{{define "part"}}{{T "From tmpl"}}{{end}}`)},
		"web/static/app.js":        {Data: []byte(`T("Not a template")`)},
		"handler.go":               {Data: []byte(goSrc)},
		"handler_test.go":          {Data: []byte(`package ui; var _ = T(lang, "Test only")`)},
		"web/templates/readme.txt": {Data: []byte(`{{T "Not a template either"}}`)},
	}
	got, err := Extract(fsys, "*.go")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Across lines", "Bound language", "Bound with %d", "Explicit language", "From tmpl",
		"Go message", "Go message with %s", "Nested in a pipeline", "Passed to a template",
		"Raw in Go", "Raw string", "See your email address", "Sign in",
		"The email or password is incorrect.", "Welcome", "to continue to %s",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Extract() =\n%q\nwant\n%q", got, want)
	}

	lits, err := Literals(fsys, "handler.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Not translated", "email", "Go message"} {
		if !slices.Contains(lits, s) {
			t.Errorf("Literals() lacks %q", s)
		}
	}
	if slices.Contains(lits, "Test only") {
		t.Error("Literals() read a _test.go file")
	}
}

func TestExtractErrors(t *testing.T) {
	tests := []struct {
		name   string
		fsys   fstest.MapFS
		globs  []string
		errHas string
	}{
		{"pattern matches nothing", fstest.MapFS{"a.go": {Data: []byte("package a")}}, []string{"ui/*.go"}, "matches no file"},
		{"bad pattern", fstest.MapFS{}, []string{"["}, "syntax error"},
		{"broken Go", fstest.MapFS{"a.go": {Data: []byte("package a; func (")}}, []string{"*.go"}, "a.go"},
		{"broken template", fstest.MapFS{"t.html": {Data: []byte("{{if}}")}}, nil, "t.html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Extract(tt.fsys, tt.globs...)
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("Extract() error = %v, want one containing %q", err, tt.errHas)
			}
		})
	}
}
