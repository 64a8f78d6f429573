// Package addrkey turns a client address into what per-address limits count it as. It is
// apart from clientip, which reads requests, so that the rules that count (account, guard)
// need no HTTP.
package addrkey

import "net/netip"

// LimitKey is what per-address limits count a client address as: an IPv4 address as itself
// (also when written IPv4-in-IPv6), an IPv6 address as its /64, which one subscriber or host
// usually holds whole; counted per address, a /64 would give its holder limits without end.
// Anything else is returned as it is.
func LimitKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a = a.Unmap(); a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}
