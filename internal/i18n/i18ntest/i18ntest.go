// Package i18ntest holds test helpers that compare the i18n catalogs with the messages
// the UI uses. It is separate from i18n so that the server binary does not link the
// testing package.
//
// A UI test would typically do:
//
//	msgs, err := i18n.Extract(os.DirFS("."), "*.go")     // templates below . and ui/*.go
//	...
//	i18ntest.CheckCoverage(t, bundle, msgs)               // every message is translated
//	lits, err := i18n.Literals(os.DirFS("."), "*.go")
//	...
//	i18ntest.CheckUnused(t, bundle, append(msgs, lits...)) // no catalog key is stale
package i18ntest

import (
	"strings"
	"testing"

	"github.com/myaccount/myaccount/internal/i18n"
)

// CheckCoverage fails t for each language whose catalog lacks some of msgs (as found by
// i18n.Extract), listing them, so a new or reworded English text cannot ship untranslated.
func CheckCoverage(t testing.TB, b *i18n.Bundle, msgs []string) {
	t.Helper()
	for _, l := range b.Languages() {
		if missing := b.Missing(l.Tag, msgs); len(missing) > 0 {
			t.Errorf("catalog/%s.json lacks %d message(s) in use:\n%s", l.Tag, len(missing), list(missing))
		}
	}
}

// CheckUnused fails t for each language whose catalog has keys not among used, i.e.
// translations of English texts that were reworded or removed; left alone, they would
// mislead translators and hide that the new text is untranslated.
func CheckUnused(t testing.TB, b *i18n.Bundle, used []string) {
	t.Helper()
	for _, l := range b.Languages() {
		if stale := b.Unused(l.Tag, used); len(stale) > 0 {
			t.Errorf("catalog/%s.json has %d key(s) no longer used:\n%s", l.Tag, len(stale), list(stale))
		}
	}
}

func list(msgs []string) string {
	var sb strings.Builder
	for _, m := range msgs {
		sb.WriteString("\t")
		sb.WriteString(quote(m))
		sb.WriteString("\n")
	}
	return sb.String()
}

// quote writes a message as it would appear as a JSON key, ready to paste into a catalog.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}
