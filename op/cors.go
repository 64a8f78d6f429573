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

// originCache holds the allowed origins, read from the clients at most every originTTL.
type originCache struct {
	store storage.Store
	now   func() time.Time

	mu      sync.Mutex
	loaded  time.Time
	origins map[string]bool
}

func (c *originCache) allowed(ctx context.Context, origin string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	age := now.Sub(c.loaded)
	if c.origins == nil || age > originTTL || now.Before(c.loaded) || (!c.origins[origin] && age > originMissTTL) {
		clients, err := c.store.ListClients(ctx)
		if err != nil {
			return c.origins[origin] // keep the last good set through a database hiccup
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
		c.origins, c.loaded = set, now
	}
	return c.origins[origin]
}

// webOrigin is the origin (scheme://host[:port]) of an http(s) URI, "" for anything else.
func webOrigin(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}
