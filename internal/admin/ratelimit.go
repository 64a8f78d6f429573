package admin

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/myaccount/myaccount/internal/addrkey"
	"github.com/myaccount/myaccount/internal/fault"
	"github.com/myaccount/myaccount/storage"
)

// Counters is what the rate limits need of the store (storage.CounterStore's methods): the
// counts live in SQL, so a limit holds across the instances behind a load balancer and
// across restarts, and a hit is atomic, so parallel requests cannot slip past it.
type Counters interface {
	HitCounter(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	// GetCounter gives the window's start, for Retry-After, once a limit refuses.
	GetCounter(ctx context.Context, key string) (count int, windowStart time.Time, err error)
}

// The counter keys' prefixes. They are stored data: keep them stable. Neither key holds the
// raw token or address (see tokenKey, ipKey). Counters are purged with every other counter
// (sqlstore.CounterRetention after their window started).
const (
	tokenKeyPrefix = "admin-api-token:"
	ipKeyPrefix    = "admin-api-ip:"
)

// tokenKey is the counter key of a bearer token: a hash, so the table never holds a token.
func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return tokenKeyPrefix + base64.RawURLEncoding.EncodeToString(sum[:16])
}

// ipKey is the counter key of a client address (an IPv6 /64 counts as one).
func ipKey(ip string) string { return ipKeyPrefix + addrkey.LimitKey(ip) }

// allow counts the request against key and answers it when it may not go on: 429 with
// Retry-After (seconds to the window's end) over the limit, 503 when the count could not be
// made or read (ours: the request is neither refused as the caller's fault nor let through
// unlimited).
func (a *API) allow(w http.ResponseWriter, r *http.Request, key string, limit int) bool {
	ctx, window := r.Context(), a.cfg.Limits.Window
	now := a.cfg.Now().UTC()
	n, err := a.cfg.Counters.HitCounter(ctx, key, window, now)
	if err != nil {
		a.fail(w, r, fault.Mark(fmt.Errorf("admin api rate limit: %w", err)))
		return false
	}
	if n <= limit {
		return true
	}
	wait := window
	_, start, err := a.cfg.Counters.GetCounter(ctx, key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		wait = 0 // purged or reset since the hit: the next request starts a new window
	case err != nil:
		a.fail(w, r, fault.Mark(fmt.Errorf("admin api rate limit: %w", err)))
		return false
	default:
		// Another instance may have restarted the window since our hit: never more than one.
		wait = min(max(start.Add(window).Sub(now), 0), window)
	}
	tooMany(w, wait)
	return false
}
