package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/myaccount/myaccount/storage"
)

// TestUILocalesChooseTheSignInLanguage: discovery names every language the pages speak, and
// an application's ui_locales (OIDC Core §3.1.2.1) carry into its sign-in, skipping the ones
// not spoken, before the browser's Accept-Language; a language the person chose here (the
// switcher's cookie) still comes first. Before, discovery said only "en" and ui_locales were
// stored but never read.
func TestUILocalesChooseTheSignInLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	var disc struct {
		UILocales []string `json:"ui_locales_supported"`
	}
	if err := e.provider(ctx).Claims(&disc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(disc.UILocales, []string{"en", "de", "ru"}) {
		t.Errorf("ui_locales_supported %v, want [en de ru]", disc.UILocales)
	}

	e.addUser("ada@example.com")
	c := e.addClient(storage.ClientConfidential, firstParty)
	for _, tc := range []struct{ asked, want, word string }{
		{"fr-CH de", "de", "Anmelden"},
		{"ru", "ru", "Войти"},
		{"", "en", "Sign in"},
		{"fr", "en", "Sign in"},
	} {
		b := e.browser()
		var opts []oauth2.AuthCodeOption
		if tc.asked != "" {
			opts = append(opts, oauth2.SetAuthURLParam("ui_locales", tc.asked))
		}
		p, _, _, _ := e.authorize(b, c, opts...)
		if p.url.Path != "/login" || !strings.Contains(p.body, `lang="`+tc.want+`"`) || !strings.Contains(p.body, tc.word) {
			t.Errorf("ui_locales %q: %s, want a sign-in page in %s\n%.300s", tc.asked, p.url.Path, tc.want, p.body)
		}
		// The wrong password's answer, on the same sign-in, speaks the same language.
		if p := b.submitLogin(p, "ada@example.com", "not the password at all"); !strings.Contains(p.body, `lang="`+tc.want+`"`) {
			t.Errorf("ui_locales %q: the refused password's page is not in %s", tc.asked, tc.want)
		}
	}

	// The person's own choice on this browser wins over the application's.
	b := e.browser()
	b.get(e.issuer + "/lang?to=ru&back=/login")
	if p, _, _, _ := e.authorize(b, c, oauth2.SetAuthURLParam("ui_locales", "de")); !strings.Contains(p.body, `lang="ru"`) {
		t.Errorf("the switcher's choice lost to ui_locales: %.300s", p.body)
	}
}
