// Package clientip finds the address of the client behind a request. X-Forwarded-For is
// believed only when the direct peer is a configured trusted proxy; otherwise anyone could
// claim any address and dodge per-IP limits.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver resolves client IPs. The zero value trusts no proxy.
type Resolver struct {
	trusted []netip.Prefix
}

// New parses trusted proxies given as CIDRs or single IPs.
func New(trusted []string) (*Resolver, error) {
	r := &Resolver{}
	for _, t := range trusted {
		if p, err := netip.ParsePrefix(t); err == nil {
			r.trusted = append(r.trusted, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(t)
		if err != nil {
			return nil, fmt.Errorf("clientip: trusted proxy %q: %w", t, err)
		}
		r.trusted = append(r.trusted, netip.PrefixFrom(a, a.BitLen()))
	}
	return r, nil
}

// IP returns the client address: the peer, or — when the peer is trusted — the right-most
// X-Forwarded-For entry that is not itself a trusted proxy.
func (r *Resolver) IP(req *http.Request) string {
	peer := hostOnly(req.RemoteAddr)
	if !r.isTrusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(req.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		a, ok := hopAddr(h)
		if !ok {
			return peer
		}
		if !r.isTrustedAddr(a) {
			return a.String()
		}
	}
	return peer
}

// hopAddr reads one X-Forwarded-For entry: an address, or one with a port ("1.2.3.4:5555",
// "[2001:db8::1]:443", which some proxies append), unmapped from IPv4-in-IPv6. Taking the
// peer for an entry with a port made every client behind such a proxy one address.
func hopAddr(h string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(strings.Trim(h, "[]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// TrustedPeer reports whether the request's direct peer is a trusted proxy, whose headers
// (X-Forwarded-For, X-Request-ID) may be believed.
func (r *Resolver) TrustedPeer(req *http.Request) bool {
	return r.isTrusted(hostOnly(req.RemoteAddr))
}

func (r *Resolver) isTrusted(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	return r.isTrustedAddr(a.Unmap())
}

// isTrustedAddr is isTrusted of an address parsed and unmapped already.
func (r *Resolver) isTrustedAddr(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func hostOnly(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
