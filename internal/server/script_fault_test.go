package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/storage/faultstore"
)

// TestScriptsGetOurFailureInJSON: a page's script (the captcha's "new numbers", security keys,
// passkeys) that meets a failure of ours gets the 503 in JSON, with the sentence the pages
// show in the person's language, which the scripts display like any other refusal. Before,
// it got the HTML error page, could not read it, and told the person "The server could not
// be reached", which sends them to check their connection. A request that does not ask for
// JSON still gets the page.
func TestScriptsGetOurFailureInJSON(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	b := e.browser()
	form := b.get(e.issuer + "/register").formValues()
	reload := func(accept, lang string) *page {
		t.Helper()
		f := url.Values{"csrf_token": {form.Get("csrf_token")}, "form_id": {form.Get("form_id")}}
		req, _ := http.NewRequest(http.MethodPost, e.issuer+"/register/captcha", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		req.Header.Set("Accept-Language", lang)
		return b.do(req)
	}
	if p := reload("application/json", "en"); p.status != http.StatusOK || !strings.Contains(p.body, `"image"`) {
		t.Fatalf("new numbers without a failure: %d %.300s", p.status, p.body)
	}
	fs.Add(faultstore.Rule{Err: faultstore.ErrInjected})
	for lang, want := range map[string]string{
		"en": "We could not finish this just now. Nothing you entered is wrong: please try again in a moment.",
		"de": "Das hat gerade nicht geklappt. Ihre Eingaben sind nicht falsch: Bitte versuchen Sie es gleich noch einmal.",
	} {
		p := reload("application/json", lang)
		var m map[string]string
		if p.status != http.StatusServiceUnavailable || !strings.HasPrefix(p.header.Get("Content-Type"), "application/json") ||
			p.header.Get("Retry-After") == "" || json.Unmarshal([]byte(p.body), &m) != nil || m["error"] != want {
			t.Errorf("%s: our failure answered %d %s %q, want 503 JSON {\"error\": %q} with Retry-After",
				lang, p.status, p.header.Get("Content-Type"), p.body, want)
		}
	}
	if p := reload("", "en"); p.status != http.StatusServiceUnavailable || !strings.Contains(p.body, "<h1>Temporarily unavailable</h1>") {
		t.Errorf("a request not asking for JSON: %d %.300s, want the 503 page", p.status, p.body)
	}
}
