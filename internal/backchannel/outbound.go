package backchannel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Outbound limits.
const (
	// OutboundTimeout bounds one call, connection and body included.
	OutboundTimeout = 10 * time.Second
	// MaxBody is the most of a response body read: a JWK Set must fit; a logout endpoint's
	// answer is not read beyond it.
	MaxBody = 64 << 10
)

// ErrRefused is a URL or address the server will not call.
var ErrRefused = errors.New("backchannel: address refused")

// ErrTooLarge is a response body over MaxBody.
var ErrTooLarge = errors.New("backchannel: response too large")

// Outbound makes the server's own calls to client-registered URLs (logout endpoints, JWK
// Sets): https, or plain http to a loopback host the client registered; no proxy, no
// redirects, bounded time and body. The name is resolved here and the checked address is
// the one dialled, so a name that resolves (or rebinds) to a private, link-local or loopback
// address is refused; a loopback address only when the URL itself names a loopback host.
type Outbound struct {
	client *http.Client
}

// NewOutbound returns an Outbound with its own transport.
func NewOutbound() *Outbound {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			if err != nil {
				return nil, err
			}
			loopback, _ := ctx.Value(loopbackKey{}).(bool)
			for _, ip := range ips {
				if !allowedAddr(ip.Unmap(), loopback) {
					return nil, fmt.Errorf("%w: %s resolves to %s", ErrRefused, host, ip)
				}
			}
			var errs []error
			for _, ip := range ips {
				c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
				if err == nil {
					return c, nil
				}
				errs = append(errs, err)
			}
			return nil, errors.Join(errs...)
		},
		Proxy:                 nil, // a proxy would hide the address checked
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: OutboundTimeout,
		MaxIdleConns:          16,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &Outbound{client: &http.Client{
		Transport: tr,
		Timeout:   OutboundTimeout,
		// A redirect could lead anywhere, past the checks made on the registered URL.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type loopbackKey struct{}

// CheckURL tells whether raw may be called: https, or http to a loopback host (the rule the
// admin service applies at registration). loopback reports whether the URL names a loopback
// host, which alone may reach a loopback address.
func CheckURL(raw string) (loopback bool, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return false, fmt.Errorf("%w: not an absolute URL without credentials", ErrRefused)
	}
	h := u.Hostname()
	loopback = h == "localhost" || h == "127.0.0.1" || h == "::1"
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback:
	default:
		return false, fmt.Errorf("%w: %s is neither https nor loopback http", ErrRefused, u.Scheme)
	}
	return loopback, nil
}

func allowedAddr(a netip.Addr, loopback bool) bool {
	if a.Unmap().IsLoopback() {
		return loopback
	}
	return Public(a)
}

// notPublic are the ranges beyond netip's private, loopback, link-local, multicast and
// unspecified ones that reach no public service: 0.0.0.0/8 ("this network"), RFC 6598's
// shared range (carrier-grade NAT; private in all but name, and where a cloud's metadata
// service answers: 100.100.100.200), IETF protocol assignments, benchmarking, and the
// reserved 240.0.0.0/4 with the broadcast address.
var notPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

// nat64 is the well-known NAT64 prefix (RFC 6052): its addresses reach the IPv4 address in
// their last 32 bits.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Public reports whether a is an address of the public internet, which the server may call
// for anyone: the rule of every address the server's own calls dial (Outbound) and of the
// literals an anonymous registrant may name (internal/registration). An IPv4-mapped or NAT64
// address is judged by the IPv4 address it reaches.
func Public(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is6() && nat64.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte(b[12:]))
	}
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	for _, p := range notPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// Response is what a call returned: the status and at most MaxBody bytes of the body.
type Response struct {
	Status int
	Body   []byte
}

// Do sends req (built by the caller for a URL CheckURL accepts) and reads the response.
func (o *Outbound) Do(req *http.Request) (*Response, error) {
	loopback, err := CheckURL(req.URL.String())
	if err != nil {
		return nil, err
	}
	req = req.WithContext(context.WithValue(req.Context(), loopbackKey{}, loopback))
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if len(body) > MaxBody {
		return &Response{Status: resp.StatusCode}, ErrTooLarge
	}
	return &Response{Status: resp.StatusCode, Body: body}, nil
}

// Get fetches raw.
func (o *Outbound) Get(ctx context.Context, raw string) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	req.Header.Set("Accept", "application/json")
	return o.Do(req)
}

// PostForm posts form to raw as application/x-www-form-urlencoded.
func (o *Outbound) PostForm(ctx context.Context, raw string, form url.Values) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, raw, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return o.Do(req)
}
