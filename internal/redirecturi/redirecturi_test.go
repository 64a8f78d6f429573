package redirecturi

import (
	"net/url"
	"strings"
	"testing"
)

func TestAllowed(t *testing.T) {
	reg := []string{"https://app.example/cb", "http://127.0.0.1/loop", "http://[::1]/loop6", "http://localhost/lh", "http://127.0.0.1:8080/fixed", "com.example.app:/oauth"}
	tests := []struct {
		name      string
		requested string
		native    bool
		want      bool
	}{
		{"exact https", "https://app.example/cb", false, true},
		{"exact custom scheme", "com.example.app:/oauth", true, true},
		{"https trailing slash", "https://app.example/cb/", false, false},
		{"https case", "https://APP.example/cb", false, false},
		{"https port added", "https://app.example:443/cb", false, false},
		{"https query added", "https://app.example/cb?x=1", false, false},
		{"native ipv4 any port", "http://127.0.0.1:49152/loop", true, true},
		{"native ipv6 any port", "http://[::1]:49152/loop6", true, true},
		{"web client no port relaxation", "http://127.0.0.1:49152/loop", false, false},
		{"native path differs", "http://127.0.0.1:49152/loopx", true, false},
		{"native query added", "http://127.0.0.1:49152/loop?a=b", true, false},
		{"native host family swap", "http://[::1]:49152/loop", true, false},
		{"native localhost not relaxed", "http://localhost:49152/lh", true, false},
		{"native localhost exact", "http://localhost/lh", true, true},
		{"native registered with port is exact", "http://127.0.0.1:9090/fixed", true, false},
		{"native https loopback", "https://127.0.0.1:49152/loop", true, false},
		{"native userinfo", "http://evil@127.0.0.1:49152/loop", true, false},
		{"native fragment", "http://127.0.0.1:49152/loop#x", true, false},
		{"native 127.1 shorthand", "http://127.1:49152/loop", true, false},
		{"native non-numeric port", "http://127.0.0.1:abc/loop", true, false},
		{"empty", "", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Allowed(reg, tt.requested, tt.native); got != tt.want {
				t.Errorf("Allowed(%q, native=%v) = %v, want %v", tt.requested, tt.native, got, tt.want)
			}
		})
	}
}

func TestValidForType(t *testing.T) {
	tests := []struct {
		uri, typ string
		want     bool
	}{
		{"https://app.example/cb", "confidential", true},
		{"https://app.example/cb#frag", "confidential", false},
		{"http://app.example/cb", "confidential", false},
		{"http://localhost:3000/cb", "public", true}, // an operator's development client
		{"http://127.0.0.1/cb", "native", true},
		{"com.example.app:/cb", "native", true},
		{"com.example.app:/cb", "public", false},
		{"myapp:/cb", "native", false},
		{"/relative", "public", false},
		{"https:///nohost", "public", false},
	}
	for _, tt := range tests {
		if got := ValidForType(tt.uri, tt.typ); got != tt.want {
			t.Errorf("ValidForType(%q, %s) = %v, want %v", tt.uri, tt.typ, got, tt.want)
		}
	}
}

// TestValidForRegistration: an anonymous registrant gets plain http only for a native client
// and only on a loopback IP literal (RFC 8252 §7.3, §8.3).
func TestValidForRegistration(t *testing.T) {
	tests := []struct {
		uri, typ string
		want     bool
	}{
		{"https://app.example/cb", "confidential", true},
		{"https://app.example/cb", "public", true},
		{"http://localhost:3000/cb", "public", false},
		{"http://127.0.0.1:3000/cb", "public", false},
		{"http://127.0.0.1/cb", "confidential", false},
		{"http://[::1]/cb", "confidential", false},
		{"http://localhost:8080/cb", "confidential", false},
		{"http://127.0.0.1/cb", "native", true},
		{"http://127.0.0.1:8080/cb", "native", true},
		{"http://[::1]/cb", "native", true},
		{"http://localhost/cb", "native", false},
		{"http://localhost:8080/cb", "native", false},
		{"http://127.1/cb", "native", false},
		{"http://u@127.0.0.1/cb", "native", false},
		{"http://app.example/cb", "native", false},
		{"com.example.app:/cb", "native", true},
		{"com.example.app:/cb", "public", false},
		{"https://app.example/cb#f", "native", false},
	}
	for _, tt := range tests {
		if got := ValidForRegistration(tt.uri, tt.typ); got != tt.want {
			t.Errorf("ValidForRegistration(%q, %s) = %v, want %v", tt.uri, tt.typ, got, tt.want)
		}
	}
}

func TestErrorURL(t *testing.T) {
	got, err := ErrorURL("https://app.example/cb?keep=1", "access_denied", "no", "s&t", "https://id.example")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(got)
	q := u.Query()
	if q.Get("keep") != "1" || q.Get("error") != "access_denied" || q.Get("state") != "s&t" || q.Get("iss") != "https://id.example" {
		t.Errorf("ErrorURL = %s", got)
	}
	if !strings.HasPrefix(got, "https://app.example/cb?") {
		t.Errorf("ErrorURL changed the base: %s", got)
	}
}

// FuzzAllowed: whatever is requested, a URI is allowed only when it equals a registered one
// or is the loopback relaxation of one (same scheme, host and path).
func FuzzAllowed(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:1/cb", "http://[::1]:65535/cb", "https://a.example/cb", "http://127.0.0.1:0x1/cb", "http://127.0.0.1:/cb", "http://127.0.0.1:1/cb?", "\x00"} {
		f.Add(s)
	}
	reg := []string{"http://127.0.0.1/cb", "http://[::1]/cb", "https://a.example/cb"}
	f.Fuzz(func(t *testing.T, req string) {
		if !Allowed(reg, req, true) {
			return
		}
		for _, r := range reg {
			if r == req {
				return
			}
		}
		u, err := url.Parse(req)
		if err != nil {
			t.Fatalf("allowed unparsable %q", req)
		}
		if u.Scheme != "http" || (u.Hostname() != "127.0.0.1" && u.Hostname() != "::1") || u.EscapedPath() != "/cb" || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
			t.Fatalf("allowed %q which is not a loopback relaxation of a registered URI", req)
		}
	})
}
