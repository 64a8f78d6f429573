package op

import (
	"testing"
	"time"
)

func TestSameHTU(t *testing.T) {
	const want = "https://id.example.com/oauth/token"
	tests := []struct {
		htu  string
		same bool
	}{
		{"https://id.example.com/oauth/token", true},
		{"https://ID.Example.COM/oauth/token", true},
		{"HTTPS://id.example.com/oauth/token", true},
		{"https://id.example.com:443/oauth/token", true},
		{"https://id.example.com/oauth/token?x=1", true},
		{"https://id.example.com/oauth/token#frag", true},
		{"http://id.example.com/oauth/token", false},
		{"https://id.example.com:8443/oauth/token", false},
		{"https://id.example.com/oauth/token/", false},
		{"https://id.example.com/oauth/Token", false},
		{"https://evil.example/oauth/token", false},
		{"https://user@id.example.com/oauth/token", false},
		{"/oauth/token", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := sameHTU(tt.htu, want); got != tt.same {
			t.Errorf("sameHTU(%q) = %v, want %v", tt.htu, got, tt.same)
		}
	}
}

func TestDPoPNonce(t *testing.T) {
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	v := &dpopVerifier{nonceKey: []byte("0123456789abcdef0123456789abcdef")}
	other := &dpopVerifier{nonceKey: []byte("fedcba9876543210fedcba9876543210")}
	n := v.nonce(now)
	tests := []struct {
		name  string
		nonce string
		at    time.Time
		ok    bool
	}{
		{"same slot", n, now, true},
		{"next slot", n, now.Add(dpopNonceSlot), true},
		{"two slots later", n, now.Add(2 * dpopNonceSlot), false},
		{"from the future", v.nonce(now.Add(dpopNonceSlot)), now, false},
		{"another key's", other.nonce(now), now, false},
		{"tampered", n[:len(n)-2] + "AA", now, false},
		{"empty", "", now, false},
		{"garbage", "not base64 !", now, false},
	}
	for _, tt := range tests {
		if got := v.validNonce(tt.nonce, tt.at); got != tt.ok {
			t.Errorf("%s: validNonce = %v, want %v", tt.name, got, tt.ok)
		}
	}
}
