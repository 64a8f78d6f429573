package clientip

import (
	"net/http/httptest"
	"testing"
)

func TestIP(t *testing.T) {
	r, err := New([]string{"10.0.0.0/8", "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, remote, xff, want string
	}{
		{"untrusted peer ignores header", "203.0.113.9:1234", "1.2.3.4", "203.0.113.9"},
		{"trusted peer uses header", "10.1.2.3:80", "198.51.100.7", "198.51.100.7"},
		{"right-most untrusted hop wins", "10.1.2.3:80", "6.6.6.6, 198.51.100.7, 10.9.9.9", "198.51.100.7"},
		{"single trusted ip", "192.0.2.1:5", "198.51.100.8", "198.51.100.8"},
		{"garbage header falls back to peer", "10.1.2.3:80", "not-an-ip", "10.1.2.3"},
		{"no header", "10.1.2.3:80", "", "10.1.2.3"},
		{"ipv6 peer", "[2001:db8::1]:443", "1.2.3.4", "2001:db8::1"},
		{"a hop with a port", "10.1.2.3:80", "198.51.100.7:5555", "198.51.100.7"},
		{"an ipv6 hop with a port", "10.1.2.3:80", "[2001:db8::7]:443", "2001:db8::7"},
		{"an ipv4-in-ipv6 hop", "10.1.2.3:80", "::ffff:198.51.100.7", "198.51.100.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tt.remote
			if tt.xff != "" {
				req.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := r.IP(req); got != tt.want {
				t.Errorf("IP() = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := New([]string{"nonsense"}); err == nil {
		t.Error("New accepted an invalid proxy")
	}
}
