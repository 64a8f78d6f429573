package op

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// originTTL is how long the set of allowed origins is trusted for an origin it holds: the
// origin of a public client deleted or changed (on any instance, or by the CLI) is still
// allowed for up to this long. Nothing is lost by that: no endpoint answers a credentialed
// cross-origin call, and the calls themselves still need the client and its tokens.
const originTTL = 30 * time.Second

// originMissTTL is how old the set may be when it lacks the origin asked about before it is
// read again: a browser app registered through any instance (or the CLI, or RFC 7591) is
// allowed everywhere within this, the client cache's bound, not refused for originTTL on
// every instance that had read the set before (its first code exchange, seconds after the
// registration, failed). An origin that is not allowed costs a read at most this often.
const originMissTTL = time.Second

// corsAllowed decides cross-origin calls to the back-channel endpoints (token, userinfo,
// introspection, revocation, JWKS, discovery): only from the web origins of the registered
// redirect URIs of public clients — the single-page apps that must call them from a browser.
// Confidential clients call from their servers and need no CORS; front-channel pages
// (/authorize, /end_session) never answer CORS at all (the middleware drops Origin there), and
// the opaque origin "null" (sandboxed frames, file: pages) is never allowed.
func corsAllowed(origins *originCache, r *http.Request, origin string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	return origins.allowed(r.Context(), origin)
}

// originCache holds the allowed origins, read from the clients at most every originTTL, or
// every originMissTTL for an origin the set lacks. One caller reads at a time, outside the
// lock: an origin the set holds is answered from it meanwhile, and a failed read is not
// tried again before originMissTTL either, so that origins anyone can make up cost at most a
// read that often, the database up or down, and never hold up the apps that are registered.
type originCache struct {
	store storage.Store
	now   func() time.Time

	mu      sync.Mutex
	loaded  time.Time
	origins map[string]bool
	failed  time.Time     // the last read that failed (zero when the last one did not)
	reading chan struct{} // closed when the read under way ends; nil when none is
}

func (c *originCache) allowed(ctx context.Context, origin string) bool {
	c.mu.Lock()
	now := c.now()
	age := now.Sub(c.loaded)
	held := c.origins[origin]
	expired := c.origins == nil || age > originTTL || now.Before(c.loaded)
	if !expired && (held || age <= originMissTTL) {
		c.mu.Unlock()
		return held
	}
	if d := now.Sub(c.failed); !c.failed.IsZero() && d >= 0 && d <= originMissTTL {
		c.mu.Unlock()
		return held // keep the last good set through a database hiccup
	}
	if reading := c.reading; reading != nil {
		c.mu.Unlock() // an origin the set holds was answered above: this one waits for the read
		select {
		case <-reading:
		case <-ctx.Done():
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.origins[origin]
	}
	reading := make(chan struct{})
	c.reading = reading
	c.mu.Unlock()
	defer func() { // last, and even if the read panics: the waiters go on
		c.mu.Lock()
		c.reading = nil
		c.mu.Unlock()
		close(reading)
	}()
	clients, err := c.store.ListClients(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil { // not this caller's own ending, which says nothing of the store
			c.failed = now
		}
		return c.origins[origin]
	}
	set := map[string]bool{}
	for _, cl := range clients {
		if cl.Type != storage.ClientPublic {
			continue
		}
		for _, uri := range cl.RedirectURIs {
			if o := webOrigin(uri); o != "" {
				set[o] = true
			}
		}
	}
	c.origins, c.loaded, c.failed = set, now, time.Time{}
	return set[origin]
}

// webOrigin is the origin (scheme://host[:port]) of an http(s) URI, "" for anything else.
func webOrigin(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}
