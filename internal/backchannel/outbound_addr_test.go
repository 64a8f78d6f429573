package backchannel

import (
	"net/netip"
	"testing"
)

// TestOutboundAddresses: the addresses the server's own calls (logout tokens, JWK Sets) may
// dial. Before, the dialer refused the private, loopback, link-local, multicast and
// unspecified ranges only: a name resolving into the shared range 100.64.0.0/10 (carrier-
// grade NAT, where a cloud's metadata service answers: 100.100.100.200), 0.0.0.0/8, the
// benchmarking or reserved ranges, or a NAT64 address embedding any refused IPv4 address was
// called, although registration refuses the same addresses written as literals.
func TestOutboundAddresses(t *testing.T) {
	for _, s := range []string{
		"100.100.100.200", "100.64.0.1", "100.127.255.254", "0.1.2.3", "198.18.0.1", "192.0.0.8", "240.0.0.1",
		"255.255.255.255", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "127.0.0.1", "::1", "fe80::1",
		"fd00::1", "::", "::ffff:100.100.100.200", "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "64:ff9b::a00:1",
	} {
		if allowedAddr(netip.MustParseAddr(s), false) {
			t.Errorf("%s may be called", s)
		}
	}
	for _, s := range []string{"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "64:ff9b::5db8:d70e", "100.63.255.255", "100.128.0.1"} {
		if !allowedAddr(netip.MustParseAddr(s), false) {
			t.Errorf("%s may not be called", s)
		}
	}
	// A loopback address only when the URL named a loopback host.
	if !allowedAddr(netip.MustParseAddr("127.0.0.1"), true) || allowedAddr(netip.MustParseAddr("10.0.0.1"), true) {
		t.Error("loopback allowance wrong")
	}
}
