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
	if a.IsLoopback() {
		return loopback
	}
	return !(a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsMulticast() ||
		a.IsUnspecified() || a.IsInterfaceLocalMulticast())
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
