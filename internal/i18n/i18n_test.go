package i18n

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/text/language"
)

func newBundle(t testing.TB) *Bundle {
	t.Helper()
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seed are the UI texts the catalogs were started with; each must stay translated.
var seed = []string{
	"Sign in", "Email", "Password", "Confirm password", "Create account", "Forgot your password?",
	"The email or password is incorrect.",
	"Please activate your account first: follow the link in the email we sent you.",
	"Send the activation email again", "This account is locked. Please contact support.",
	"Too many failed sign-in attempts. Try again after %s, or reset your password.",
	"to continue to %s", "Cancel and return to %s", "Allow access?", "%s wants to use your account %s to:",
	"Allow", "Deny", "Sign you in", "See your email address", "See your name, language and time zone",
	"See your country and region", "Stay signed in when you are not using it",
	"You can withdraw this permission at any time from your account.",
	"Sign out", "Sign out?", "Signed out", "You have been signed out.", "Sign in again",
	"Your account", "Profile", "Security", "Recent activity", "Country", "Region", "Time zone",
	"Date format", "Language", "Apply", "Save", "Change password", "Current password", "New password",
	"Change email", "New email", "Delete account", "This cannot be undone.",
	"Type the letters and digits in the picture", "New numbers", "Listen to the letters and digits",
	"Enter a valid email address.", "The passwords do not match.", "Use at least %d characters.",
	"Use at most %d characters.", "This password is too common. Choose another.",
	"Those were not the numbers. Try the new ones.", "Check your email",
	"We sent a link to %s. Follow it to activate your account. The link is valid for %s.",
	"Your account is active.", "This link has expired or was already used.", "Get a new link",
	"Reset your password",
	"If an account exists for %s, we sent it a link to reset the password. The link is valid for %s.",
	"Set a new password", "Your password was changed. Please sign in with the new one.",
	"Complete your profile", "We need a few details before you continue.", "Choose a country",
	"Choose a region", "Something went wrong", "Please try again in a moment.", "Not found",
	"There is no page at this address.", "Request refused", "Password strength: %s",
	"very weak", "weak", "fair", "good", "strong", "Sign-in", "Failed sign-in", "Password changed",
	"Email changed", "When", "IP address", "Application", "What", "Go to your account",
	"Sign-in expired", "Different browser", "Unknown application", "Sign-in stopped",
}

func TestCatalogs(t *testing.T) {
	b := newBundle(t)
	for _, lang := range []string{"de", "ru"} {
		if m := b.Missing(lang, seed); len(m) > 0 {
			t.Errorf("%s lacks %q", lang, m)
		}
	}
	// Both catalogs translate the same messages, so neither language lags behind.
	var de, ru []string
	for k := range b.catalogs["de"] {
		de = append(de, k)
	}
	for k := range b.catalogs["ru"] {
		ru = append(ru, k)
	}
	if d, r := b.Unused("de", ru), b.Unused("ru", de); len(d) > 0 || len(r) > 0 {
		t.Errorf("only in de: %q; only in ru: %q", d, r)
	}
	if b.Missing("en", []string{"anything"}) != nil {
		t.Error("English cannot miss a message")
	}
}

func TestLang(t *testing.T) {
	b := newBundle(t)
	tests := []struct {
		name  string
		prefs []string
		want  string
	}{
		{"none", nil, "en"},
		{"empty", []string{"", "  "}, "en"},
		{"swiss german", []string{"de-CH"}, "de"},
		{"russian", []string{"ru-RU"}, "ru"},
		{"posix form", []string{"de_DE"}, "de"},
		{"unsupported", []string{"fr"}, "en"},
		{"english variant", []string{"en-GB"}, "en"},
		{"ukrainian is not russian", []string{"uk"}, "en"},
		{"header weights", []string{"fr-FR,fr;q=0.9,de;q=0.8,en;q=0.7"}, "de"},
		{"header order", []string{"en-US,en;q=0.9,ru;q=0.8"}, "en"},
		{"weight zero excluded", []string{"de;q=0,ru;q=0.5"}, "ru"},
		{"explicit choice wins", []string{"ru", "de-DE,de;q=0.9"}, "ru"},
		{"unknown choice falls through", []string{"fr", "de-AT"}, "de"},
		{"empty choice falls through", []string{"", "ru"}, "ru"},
		{"malformed entry skipped", []string{"xx-YYYYYYYYYY,de;q=0.5"}, "de"},
		{"bad weight skipped", []string{"ru;q=abc,de"}, "de"},
		{"wildcard", []string{"*"}, "en"},
		{"garbage", []string{";;;,,,q=1"}, "en"},
		{"huge header", []string{strings.Repeat("de-DE-x-abcdefgh,", 2000)}, "de"},
		{"dashes", []string{strings.Repeat("-", 5000)}, "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := b.Lang(tt.prefs...); got != tt.want {
				t.Errorf("Lang(%q) = %q, want %q", tt.prefs, got, tt.want)
			}
		})
	}
}

func FuzzLang(f *testing.F) {
	b := newBundle(f)
	for _, s := range []string{"de-CH", "en-US,en;q=0.9", "ru;q=0", "x;q=", ";", "de-1901-1901", "zh-Hant-TW-u-co-pinyin"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := b.Lang(s); !slices.ContainsFunc(b.Languages(), func(l Language) bool { return l.Tag == got }) {
			t.Errorf("Lang(%q) = %q, not a UI language", s, got)
		}
	})
}

func TestT(t *testing.T) {
	b := newBundle(t)
	tests := []struct {
		lang, msg string
		args      []any
		want      string
	}{
		{"de", "Sign in", nil, "Anmelden"},
		{"ru", "Sign in", nil, "Войти"},
		{"en", "Sign in", nil, "Sign in"},
		{"fr", "Sign in", nil, "Sign in"},
		{"de", "A text nobody translated", nil, "A text nobody translated"},
		{"de", "to continue to %s", []any{"Wiki"}, "weiter zu Wiki"},
		{"en", "to continue to %s", []any{"Wiki"}, "to continue to Wiki"},
		{"de", "Untranslated %d", []any{3}, "Untranslated 3"},
		{"ru", "%s wants to use your account %s to:", []any{"Wiki", "a@b.example"},
			"Приложение Wiki хочет использовать ваш аккаунт a@b.example, чтобы:"},
		{"de", "Use at least %d characters.", []any{8}, "Verwenden Sie mindestens 8 Zeichen."},
		// Russian needs the genitive singular after "не менее" for 1, 21, 31…
		{"ru", "Use at least %d characters.", []any{8}, "Используйте не менее 8 символов."},
		{"ru", "Use at least %d characters.", []any{21}, "Используйте не менее 21 символа."},
		{"ru", "Use at least %d characters.", []any{11}, "Используйте не менее 11 символов."},
		{"ru", "Use at most %d characters.", []any{uint8(101)}, "Используйте не более 101 символа."},
		{"ru", "Use at most %d characters.", []any{int64(-1)}, "Используйте не более -1 символа."},
		{"ru", "Use at most %d characters.", nil, "Используйте не более %d символов."},
		// Without arguments the text is returned untouched, percent signs included.
		{"en", "100% sure", nil, "100% sure"},
	}
	for _, tt := range tests {
		if got := b.T(tt.lang, tt.msg, tt.args...); got != tt.want {
			t.Errorf("T(%q, %q, %v) = %q, want %q", tt.lang, tt.msg, tt.args, got, tt.want)
		}
	}
}

func TestLanguages(t *testing.T) {
	b := newBundle(t)
	got := b.Languages()
	want := []Language{{"en", "English"}, {"de", "Deutsch"}, {"ru", "Русский"}}
	if !slices.Equal(got, want) {
		t.Errorf("Languages() = %v", got)
	}
	got[0].Name = "changed"
	if b.Languages()[0].Name != "English" {
		t.Error("Languages returned shared state")
	}
}

func TestLoadRejects(t *testing.T) {
	ok := `{"Hi": "Hallo"}`
	tests := []struct {
		name   string
		files  map[string]string
		errHas string
	}{
		{"missing catalog", map[string]string{"de": ok}, "no catalog for ru"},
		{"unsupported language", map[string]string{"de": ok, "ru": ok, "fr": ok}, "fr.json"},
		{"english catalog", map[string]string{"de": ok, "ru": ok, "en": ok}, "en.json"},
		{"not json", map[string]string{"de": `{"Hi": `, "ru": ok}, "bad JSON"},
		{"not an object", map[string]string{"de": `["Hi"]`, "ru": ok}, "not a JSON object"},
		{"trailing data", map[string]string{"de": ok + `{}`, "ru": ok}, "trailing"},
		{"duplicate key", map[string]string{"de": `{"Hi": "Hallo", "Hi": "Servus"}`, "ru": ok}, "twice"},
		{"empty key", map[string]string{"de": `{"": "x"}`, "ru": ok}, "empty"},
		{"padded key", map[string]string{"de": `{"Hi ": "Hallo"}`, "ru": ok}, "padded"},
		{"empty translation", map[string]string{"de": `{"Hi": " "}`, "ru": ok}, "empty"},
		{"number", map[string]string{"de": `{"Hi": 1}`, "ru": ok}, "neither"},
		{"missing verb", map[string]string{"de": `{"to %s": "zu"}`, "ru": ok}, "takes arguments"},
		{"extra verb", map[string]string{"de": `{"Hi": "Hallo %s"}`, "ru": ok}, "takes arguments"},
		{"other verb", map[string]string{"de": `{"%d left": "%s übrig"}`, "ru": ok}, "takes arguments"},
		{"bad verb", map[string]string{"de": `{"50%": "50%"}`, "ru": ok}, "ends inside a verb"},
		{"skipped argument", map[string]string{"de": `{"%[2]s": "%[2]s"}`, "ru": ok}, "never uses argument 1"},
		{"star", map[string]string{"de": `{"%*d": "%*d"}`, "ru": ok}, "not supported"},
		{"plural without other", map[string]string{"de": ok, "ru": `{"%d days": {"one": "%d день"}}`}, "lack \"other\""},
		{"plural without count", map[string]string{"de": ok, "ru": `{"days": {"other": "дни"}}`}, "%d argument"},
		{"unknown plural form", map[string]string{"de": ok, "ru": `{"%d days": {"other": "%d дней", "several": "%d дня"}}`}, "unknown plural form"},
		{"plural form without verb", map[string]string{"de": ok, "ru": `{"%d days": {"one": "день", "other": "%d дней"}}`}, "takes arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for lang, body := range tt.files {
				fsys["catalog/"+lang+".json"] = &fstest.MapFile{Data: []byte(body)}
			}
			_, err := load(fsys)
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("load() error = %v, want one containing %q", err, tt.errHas)
			}
		})
	}
}

func TestLoadAcceptsReorderedArguments(t *testing.T) {
	fsys := fstest.MapFS{
		"catalog/de.json": {Data: []byte(`{"%s wants %s": "%[2]s wird von %[1]s gewünscht", "100%% of %d": "100 %% von %d"}`)},
		"catalog/ru.json": {Data: []byte(`{}`)},
	}
	b, err := load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.T("de", "%s wants %s", "Wiki", "Zugriff"); got != "Zugriff wird von Wiki gewünscht" {
		t.Errorf("reordered: %q", got)
	}
	if got := b.T("de", "100%% of %d", 5); got != "100 % von 5" {
		t.Errorf("percent: %q", got)
	}
}

func TestVerbs(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"plain", ""},
		{"%s and %d", "sd"},
		{"%[2]d then %[1]s", "sd"},
		{"%5.2f%%", "f"},
		{"%-10s|%+d|%#v", "sdv"},
		{"%[1]s twice %[1]s", "s"},
	}
	for _, tt := range tests {
		got, err := verbs(tt.in)
		if err != nil || string(got) != tt.want {
			t.Errorf("verbs(%q) = %q, %v; want %q", tt.in, string(got), err, tt.want)
		}
	}
	for _, bad := range []string{"%", "%[x]s", "%[0]s", "%[1]s %[1]d", "%é"} {
		if _, err := verbs(bad); err == nil {
			t.Errorf("verbs(%q) accepted", bad)
		}
	}
}

// Lang takes a supported tag as it is; the matcher must agree.
func TestLangExactTagsMatchThemselves(t *testing.T) {
	b := newBundle(t)
	for _, l := range languages {
		_, i, conf := b.matcher.Match(parsePref(l.Tag)...)
		if languages[i].Tag != l.Tag || conf < language.High {
			t.Errorf("the matcher takes %q for %s (confidence %v)", languages[i].Tag, l.Tag, conf)
		}
	}
}

// A remembered match is the match, and only so many are remembered.
func TestLangMemo(t *testing.T) {
	b := newBundle(t)
	prefs := []string{"de-CH, fr;q=0.5", "fr", "", "ru-RU,ru;q=0.9", "xx-;;q=", "en-GB", "gsw", strings.Repeat("de,", 200)}
	want := make([]string, len(prefs))
	for i, p := range prefs {
		want[i] = newBundle(t).Lang(p) // a fresh bundle: parsed
	}
	for range 2 {
		for i, p := range prefs {
			if got := b.Lang(p); got != want[i] {
				t.Errorf("Lang(%q) = %q, want %q", p, got, want[i])
			}
		}
	}
	for i := range 2 * maxMatched {
		b.Lang(fmt.Sprintf("x-%d", i))
	}
	if n := b.nMatched.Load(); n > maxMatched {
		t.Errorf("%d matches remembered, at most %d wanted", n, maxMatched)
	}
	if got := b.Lang("de-AT"); got != "de" {
		t.Errorf("Lang(de-AT) with the memo full = %q", got)
	}
}
