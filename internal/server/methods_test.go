package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestProtocolEndpointMethods: the POST-only endpoints (token, introspection, revocation,
// device authorization) answer another method 405 with Allow: POST, in JSON: the library took
// any, and an OPTIONS naming an unknown client_id at device_authorization was a 500, a GET
// at introspection its internal error text ("ErrorType=invalid_client Parent=…").
// Discovery and the JWKS answer only GET and HEAD with the document and its public
// Cache-Control, other methods 405 no-store (they were answered the document, publicly
// cacheable). CORS preflights still pass to the CORS handler.
func TestProtocolEndpointMethods(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	send := func(method, path string, hdr ...string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(method, e.addr+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	for _, path := range []string{"/oauth/token", "/oauth/introspect", "/revoke", "/device_authorization"} {
		for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
			st, h, body := send(method, path+"?client_id=no-such-client")
			if st != http.StatusMethodNotAllowed || h.Get("Allow") != "POST" || h.Get("Cache-Control") != "no-store" {
				t.Errorf("%s %s: %d, Allow %q, Cache-Control %q; want 405, POST, no-store:\n%.300s", method, path, st, h.Get("Allow"), h.Get("Cache-Control"), body)
			}
			if method != http.MethodHead && !strings.Contains(body, `"error":"invalid_request"`) {
				t.Errorf("%s %s: body %q, want a JSON invalid_request", method, path, body)
			}
		}
		if st, _, _ := send(http.MethodPost, path); st == http.StatusMethodNotAllowed {
			t.Errorf("POST %s: 405", path)
		}
		st, h, _ := send(http.MethodOptions, path, "Origin", "https://rp.example", "Access-Control-Request-Method", "POST")
		if st == http.StatusMethodNotAllowed || h.Get("Allow") != "" {
			t.Errorf("preflight %s: %d, Allow %q: refused as a method", path, st, h.Get("Allow"))
		}
	}
	for _, path := range []string{"/.well-known/openid-configuration", "/keys"} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			if st, h, _ := send(method, path); st != http.StatusOK || h.Get("Cache-Control") != "public, max-age=300" {
				t.Errorf("%s %s: %d, Cache-Control %q", method, path, st, h.Get("Cache-Control"))
			}
		}
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
			st, h, body := send(method, path)
			if st != http.StatusMethodNotAllowed || h.Get("Allow") != "GET, HEAD" || h.Get("Cache-Control") != "no-store" || strings.Contains(body, "issuer") || strings.Contains(body, "keys") {
				t.Errorf("%s %s: %d, Allow %q, Cache-Control %q; want 405, GET, HEAD, no-store and no document:\n%.200s", method, path, st, h.Get("Allow"), h.Get("Cache-Control"), body)
			}
		}
		st, h, _ := send(http.MethodOptions, path, "Origin", "https://rp.example", "Access-Control-Request-Method", "GET")
		if st == http.StatusMethodNotAllowed || h.Get("Allow") != "" {
			t.Errorf("preflight %s: %d, Allow %q: refused as a method", path, st, h.Get("Allow"))
		}
	}
}

// TestLicenceAPIMethods: the licence API answers a method other than POST 405 in JSON with
// Allow: POST; unmatched, the path went on to the UI's catch-all, whose HTML "not found"
// page set the UI's CSRF cookie.
func TestLicenceAPIMethods(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		req, _ := http.NewRequest(method, e.addr+"/api/v1/licences/some-licence/activations", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" ||
			resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(b), `"error":"invalid_request"`) {
			t.Errorf("%s: %d, Allow %q, %s: %.200s", method, resp.StatusCode, resp.Header.Get("Allow"), resp.Header.Get("Content-Type"), b)
		}
		if len(resp.Cookies()) != 0 {
			t.Errorf("%s: cookies set: %v", method, resp.Cookies())
		}
	}
}

// TestStaticRouteMethods: the static files' route declares GET and HEAD, so Routes lists
// them and the UI's router answers another method with its 405 page (the files' handler
// answered a plain-text one, and Routes listed the route as taking every method).
func TestStaticRouteMethods(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodPost, e.addr+"/static/style.css", strings.NewReader(""))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(string(b), "This page cannot be used that way.") ||
		resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("POST /static/style.css: %d, Cache-Control %q: %.300s", resp.StatusCode, resp.Header.Get("Cache-Control"), b)
	}
	if resp, err := http.Get(e.addr + "/static/style.css"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /static/style.css: %v %v", resp, err)
	}
}
