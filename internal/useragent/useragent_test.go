package useragent

import (
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	tests := []struct{ ua, want string }{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0", "Edge on Windows"},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36", "Chrome on Linux"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", "Safari on iPhone"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.0; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox on macOS"},
		{"Go-http-client/1.1", "Go HTTP client"},
		{"", "Unknown device"},
		{"SecureVault/3.2 (build 77)", "SecureVault/3.2"},
		{strings.Repeat("x", 100), strings.Repeat("x", 40)},
	}
	for _, tt := range tests {
		if got := Describe(tt.ua); got != tt.want {
			t.Errorf("Describe(%.40q) = %q, want %q", tt.ua, got, tt.want)
		}
	}
}
