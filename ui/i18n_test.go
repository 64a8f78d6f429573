package ui

import (
	"os"
	"slices"
	"testing"

	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/internal/i18n/i18ntest"
)

// pinned are catalog keys that no code shows any more but internal/i18n's TestCatalogs
// still requires (its seed list): the password strength words, which strength.js
// translates itself, and texts of an earlier captcha and activation page. Drop an entry
// here, and its key from the catalogs, once the seed list no longer names it.
var pinned = []string{
	"Listen to the letters and digits",
	"Password strength: %s",
	"Type the letters and digits in the picture",
	"Your account is active.",
	"fair",
	"good",
	"strong",
	"very weak",
	"weak",
}

func newBundle(t *testing.T) *i18n.Bundle {
	t.Helper()
	b, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// uiMessages are the messages the UI translates: from the templates below web/templates
// and the T and N calls in this package, and the profile field messages internal/account
// hands the UI. op's Go files are read too, so that once the provider marks the error page
// texts it passes to ErrorPage with i18n.N, they are checked as well.
func uiMessages(t *testing.T) []string {
	t.Helper()
	var msgs []string
	for _, src := range []struct{ dir, glob string }{
		{".", "*.go"}, // also walks web/templates
		{"../internal/account", "*.go"},
		{"../op", "*.go"},
		{"../internal/licence", "*.go"}, // the licence reminder mails
		{"../internal/sms", "*.go"},     // the SMS texts
	} {
		found, err := i18n.Extract(os.DirFS(src.dir), src.glob)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, found...)
	}
	if !slices.Contains(msgs, "Sign in") || !slices.Contains(msgs, "Choose a country") {
		t.Fatalf("extraction found too little (%d messages): is it reading the right directories?", len(msgs))
	}
	return msgs
}

// TestCatalogCoverage fails when a message the UI shows lacks a German or Russian
// translation.
func TestCatalogCoverage(t *testing.T) {
	i18ntest.CheckCoverage(t, newBundle(t), uiMessages(t))
}

// TestCatalogUnused fails when a catalog key is stale: neither a message in use nor a
// string literal of the UI, internal/account or op (the provider passes the titles and
// texts of its error pages to ErrorPage, which translates them).
func TestCatalogUnused(t *testing.T) {
	b := newBundle(t)
	msgs := uiMessages(t)
	used := append(slices.Clone(msgs), pinned...)
	for _, src := range []struct{ dir, glob string }{
		{".", "*.go"},
		{"../internal/account", "*.go"},
		{"../op", "*.go"},
		{"../internal/licence", "*.go"}, // the licence reminder mails
		{"../internal/sms", "*.go"},     // the SMS texts
	} {
		lits, err := i18n.Literals(os.DirFS(src.dir), src.glob)
		if err != nil {
			t.Fatal(err)
		}
		used = append(used, lits...)
	}
	i18ntest.CheckUnused(t, b, used)

	// Keep the pinned list itself honest.
	for _, p := range pinned {
		if slices.Contains(msgs, p) {
			t.Errorf("pinned message %q is in use again: remove it from pinned", p)
		}
	}
	for _, l := range b.Languages() {
		if m := b.Missing(l.Tag, pinned); len(m) > 0 {
			t.Errorf("pinned messages %q are not in catalog/%s.json: remove them from pinned", m, l.Tag)
		}
	}
}

// TestDescribeScopes checks that scopes are described in the page's language, including
// one without a description of its own.
func TestDescribeScopes(t *testing.T) {
	b := newBundle(t)
	tests := []struct {
		lang string
		want []string
	}{
		{"en", []string{"Sign you in", "See your email address", "Access “payments.read”"}},
		{"de", []string{"Sie anmelden", "Ihre E-Mail-Adresse sehen", "Auf „payments.read“ zugreifen"}},
	}
	for _, tt := range tests {
		got := describeScopes(common{Lang: tt.lang, tr: b}, []string{"openid", "email", "payments.read"})
		if !slices.Equal(got, tt.want) {
			t.Errorf("describeScopes(%s) = %q, want %q", tt.lang, got, tt.want)
		}
	}
}
