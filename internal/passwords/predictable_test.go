package passwords

import "testing"

func TestPredictable(t *testing.T) {
	ctx := []string{"ada.lovelace@example.com", "My Account"}
	for _, pw := range []string{
		"ada.lovelace@example.com", "Ada.Lovelace2024", "adalovelace!!", "qwertyuiopas", "QWERTYUIOPASDF",
		"1qaz2wsx3edc", "9876543210ab", "MyAccount2024!", "my account 1234", "asdfghjkl;'zxcvb",
		"ada.lovelace ada.lovelace", "йцукенгшщзхъ", "zyxwvutsrqpo",
	} {
		if !Predictable(pw, ctx...) {
			t.Errorf("%q not predictable", pw)
		}
	}
	for _, pw := range []string{
		"correct horse battery staple", "ada's secret garden", "qwer plus kitten mittens", "Lovelace wrote notes on the engine",
	} {
		if Predictable(pw, ctx...) {
			t.Errorf("%q predictable", pw)
		}
	}
}
