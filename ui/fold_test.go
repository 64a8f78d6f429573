package ui

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/myaccount/myaccount/internal/golden"
	"github.com/myaccount/myaccount/internal/i18n"
)

// pageData is a value of each page's data type, keyed by page.
var pageData = map[string]any{
	"login": loginPage{}, "consent": consentPage{}, "error": errorPage{}, "logout": logoutPage{},
	"account": accountPage{}, "register": registerPage{}, "message": messagePage{}, "profile": profilePage{},
	"forgot": forgotPage{}, "reset": resetPage{}, "confirm": confirmPage{}, "devices": devicesPage{},
	"device": devicePage{}, "mfa": mfaPage{}, "security": securityPage{}, "notme": notMePage{},
	"console_stepup": consolePage{}, "console_invalid": consoleInvalid{}, "console_users": consoleUsersPage{},
	"console_user": consoleUserPage{}, "console_clients": consoleClientsPage{}, "console_client": consoleClientPage{},
	"console_secret": consoleSecretPage{}, "console_audit": consoleAuditPage{}, "console_keys": consoleKeysPage{},
	"licences": licencesPage{}, "phone": phonePage{}, "forgot_sms": smsResetPage{}, "apps": appsPage{},
}

// TestFoldedPagesRenderAsTemplates renders every page in every language from its folded
// templates and from the templates as written, with the page's data filled in two ways
// (every field empty; every field set, booleans true and then false, so that most
// conditional parts show), and wants the
// same bytes.
func TestFoldedPagesRenderAsTemplates(t *testing.T) {
	h := goldenHandler(t, true)
	if len(pageData) != len(pageNames) {
		t.Fatalf("pageData has %d pages, pageNames %d", len(pageData), len(pageNames))
	}
	for _, name := range pageNames {
		zero, ok := pageData[name]
		if !ok {
			t.Errorf("pageData lacks %s", name)
			continue
		}
		for _, l := range h.languages {
			for _, m := range []struct{ filled, bools bool }{{false, false}, {true, true}, {true, false}} {
				filled := m.filled
				c := common{Title: "Title <&>", Lang: l.Tag, ProductName: "Acme & \"Co\"", CSRF: "tok+/=",
					Languages: h.languages, Here: "/x?y=<z>&a=b", tr: h.cfg.I18n, static: h.static[l.Tag]}
				data := fill(t, reflect.TypeOf(zero), filled, m.bools, c)
				plain, err := h.pages[name]()
				if err != nil {
					t.Fatal(err)
				}
				plain, err = plain.Clone() // the set as written, not executed yet
				if err != nil {
					t.Fatal(err)
				}
				var want, got strings.Builder
				werr := plain.ExecuteTemplate(&want, "layout", data)
				folded, err := h.folded[name][l.Tag]()
				if err != nil {
					t.Fatal(err)
				}
				gerr := folded.ExecuteTemplate(&got, "layout", data)
				if (werr == nil) != (gerr == nil) || got.String() != want.String() {
					t.Errorf("%s (%s, %+v): folded page differs (errors %v, %v):\n%s", name, l.Tag, m, gerr, werr,
						golden.FirstDiff(got.String(), want.String()))
				}
				if filled && werr != nil {
					t.Logf("%s (%s): %v", name, l.Tag, werr)
				}
			}
		}
	}
}

// fill makes a value of type typ: the zero value, or with every exported field set
// (strings to text that needs escaping, numbers to 2, booleans to bools, slices to two
// elements, pointers to a filled value), its common set to c.
func fill(t *testing.T, typ reflect.Type, filled, bools bool, c common) any {
	v := reflect.New(typ).Elem()
	fillValue(v, filled, bools, c, 0)
	return v.Interface()
}

func fillValue(v reflect.Value, filled, bools bool, c common, depth int) {
	if v.Type() == reflect.TypeFor[common]() {
		v.Set(reflect.ValueOf(c))
		return
	}
	if !filled || depth > 4 || !v.CanSet() {
		if v.Kind() == reflect.Struct {
			for i := range v.NumField() {
				if v.Type().Field(i).Anonymous {
					fillValue(embedded(v.Field(i)), filled, bools, c, depth+1)
				}
			}
		}
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("v%d <b>&\"'+ é", depth))
	case reflect.Bool:
		v.SetBool(bools)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Type() == reflect.TypeFor[time.Duration]() {
			v.SetInt(int64(90 * time.Minute))
		} else {
			v.SetInt(2)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(2)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(2.5)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fillValue(s.Index(i), filled, bools, c, depth+1)
		}
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillValue(p.Elem(), filled, bools, c, depth+1)
		v.Set(p)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 6, 4, 5, 6, 0, time.UTC)))
			return
		}
		for i := range v.NumField() {
			f := v.Field(i)
			if v.Type().Field(i).Anonymous {
				f = embedded(f)
			}
			if f.CanSet() {
				fillValue(f, filled, bools, c, depth+1)
			}
		}
	}
}

// embedded makes an embedded field of an unexported type (common, consolePage) settable.
func embedded(f reflect.Value) reflect.Value {
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
}

// A theme's templates are folded too, from what was checked at the start.
func TestFoldedThemePage(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	msg := filepath.Join(dir, "templates", "message.html")
	if err := os.WriteFile(msg, []byte(`{{define "content"}}<p title="{{.T "Sign in"}}">{{.T "Sign in"}} <a href="{{asset "style.css"}}">{{.Heading}}</a></p>{{end}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := lazyTestConfig(dir)
	b, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg.I18n = b
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(msg); err != nil {
		t.Fatal(err)
	}
	c := common{Lang: "de", Languages: h.languages, tr: b, static: h.static["de"]}
	var got strings.Builder
	folded, err := h.folded["message"]["de"]()
	if err != nil {
		t.Fatal(err)
	}
	if err := folded.ExecuteTemplate(&got, "content", messagePage{common: c, Heading: "<b>"}); err != nil {
		t.Fatal(err)
	}
	want := `<p title="Anmelden">Anmelden <a href="` + h.assets.url("style.css") + `">&lt;b&gt;</a></p>`
	if got.String() != want {
		t.Errorf("themed page:\n got %s\nwant %s", got.String(), want)
	}
	// Only the heading is left to evaluate.
	if src := folded.Lookup("content").Tree.Root.String(); strings.Count(src, "{{") != 1 {
		t.Errorf("folded content: %s", src)
	}
}
