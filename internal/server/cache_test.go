package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/myaccount/myaccount/storage"
)

// TestCacheControlByDefault: an answer no handler set a Cache-Control on carries no-store
// (ui.SecurityHeaders sets it by default): redirects, the UI's and the provider's. A handler
// that means its answer to be stored sets its own, and it stays: the regions of a country,
// which ui's JSON helper used to overwrite with no-store.
func TestCacheControlByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.addClient(storage.ClientConfidential)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		path   string
		status int
		cache  string
	}{
		{"/", http.StatusFound, "no-store"},
		{"/lang?lang=de&back=/login", http.StatusSeeOther, "no-store"},
		{"/account", http.StatusSeeOther, "no-store"},
		{"/end_session?client_id=" + c.ID, http.StatusFound, "no-store"},
		{"/profile/regions?country=DE", http.StatusOK, "public, max-age=3600"},
	} {
		resp, err := client.Get(e.issuer + c.path)
		if err != nil {
			t.Fatal(err)
		}
		var regions struct{ Regions []any }
		if c.status == http.StatusOK {
			_ = json.NewDecoder(resp.Body).Decode(&regions)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status || resp.Header.Values("Cache-Control") == nil || resp.Header.Get("Cache-Control") != c.cache ||
			len(resp.Header.Values("Cache-Control")) != 1 {
			t.Errorf("%s: %d, Cache-Control %q; want %d and %q", c.path, resp.StatusCode, resp.Header.Values("Cache-Control"), c.status, c.cache)
		}
		if c.status == http.StatusOK && len(regions.Regions) == 0 {
			t.Errorf("%s: no regions", c.path)
		}
	}
}
