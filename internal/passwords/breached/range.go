// Package breached asks a k-anonymity range API (Have I Been Pwned's) whether a password
// appears in known breaches. It is the only part of the password rules that speaks HTTP, so it
// lives apart: the account rules import the offline checks without net/http.
package breached

import (
	"bufio"
	"context"
	"crypto/sha1" // the range API is keyed by SHA-1: an index into the corpus, not a password hash
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultRangeURL is the public Have I Been Pwned range endpoint; the 5-character prefix is
// appended to it.
const DefaultRangeURL = "https://api.pwnedpasswords.com/range/"

// Limits of one range query.
const (
	// prefixLen is how many hex digits of the SHA-1 leave the process: 5 digits put each
	// password among roughly a million others, which is the point of the k-anonymity API.
	prefixLen = 5
	// maxRangeBody bounds what we read from the server. A real (padded) answer is about
	// 40 KB; a misbehaving server must not make us buffer gigabytes.
	maxRangeBody = 4 << 20
	// defaultRangeTimeout applies when the caller supplied no Client. A registration form
	// must not hang on a slow third party: callers should fail open (accept the password)
	// when Breached returns an error.
	defaultRangeTimeout = 5 * time.Second
)

// ErrBadRangeResponse reports a range answer that is not "SUFFIX:COUNT" lines. Match with
// errors.Is.
var ErrBadRangeResponse = errors.New("passwords: malformed range response")

// RangeChecker asks a k-anonymity range API (Have I Been Pwned's Pwned Passwords, or a
// self-hosted mirror) whether a password appears in known breaches. Only the first five hex
// digits of the password's SHA-1 are sent; the server answers with every known suffix under
// that prefix and the comparison happens here, so neither the server nor anyone watching
// learns the password or its full hash. The "Add-Padding" header is sent too, so the size of
// the answer does not narrow down the prefix either.
//
// The zero value queries DefaultRangeURL with a 5-second timeout. It is safe for concurrent
// use.
type RangeChecker struct {
	// URL is the range endpoint; the prefix is appended (a "/" is added when missing).
	// Empty means DefaultRangeURL.
	URL string
	// Client sends the request; nil means a client with a 5-second timeout. Requests also
	// honour the context given to Breached.
	Client *http.Client
	// UserAgent identifies us to the API (Have I Been Pwned rejects requests without one).
	// Empty means "MyAccount-breach-check".
	UserAgent string
}

// Breached reports whether pw appears in the range API's breach corpus. An error means the
// question could not be answered (network, status, malformed answer); callers decide whether
// that blocks the password, and usually should not.
func (r *RangeChecker) Breached(ctx context.Context, pw string) (bool, error) {
	n, err := r.BreachCount(ctx, pw)
	return n > 0, err
}

// BreachCount returns how many times pw was seen in breaches according to the range API
// (0 when never). Padding entries, which the API reports with a count of 0, never match.
func (r *RangeChecker) BreachCount(ctx context.Context, pw string) (int, error) {
	sum := sha1.Sum([]byte(pw))
	full := strings.ToUpper(hex.EncodeToString(sum[:]))
	prefix, suffix := full[:prefixLen], full[prefixLen:]

	base := r.URL
	if base == "" {
		base = DefaultRangeURL
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+prefix, nil)
	if err != nil {
		return 0, fmt.Errorf("passwords: range request: %w", err)
	}
	ua := r.UserAgent
	if ua == "" {
		ua = "MyAccount-breach-check"
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Add-Padding", "true")
	req.Header.Set("Accept", "text/plain")

	client := r.Client
	if client == nil {
		client = &http.Client{Timeout: defaultRangeTimeout}
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("passwords: range query: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused; the body is not interesting.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("passwords: range query: unexpected status %s", resp.Status)
	}
	n, err := findSuffix(io.LimitReader(resp.Body, maxRangeBody), suffix)
	if err != nil {
		return 0, fmt.Errorf("passwords: range query for prefix %s: %w", prefix, err)
	}
	return n, nil
}

// findSuffix scans "SUFFIX:COUNT" lines (CRLF or LF, hex in any case) for suffix and returns
// its count, 0 when absent. Every line is validated, not just the matching one, so that an
// endpoint that answers with something else (an HTML error page behind a 200) is reported
// instead of silently saying "not breached".
func findSuffix(body io.Reader, suffix string) (int, error) {
	found := 0
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		s, c, ok := strings.Cut(line, ":")
		if !ok || len(s) != len(suffix) || !isHex(s) {
			return 0, fmt.Errorf("%w: line %q", ErrBadRangeResponse, truncate(line, 60))
		}
		count, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || count < 0 {
			return 0, fmt.Errorf("%w: count in line %q", ErrBadRangeResponse, truncate(line, 60))
		}
		if strings.EqualFold(s, suffix) && count > found {
			found = count
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read range response: %w", err)
	}
	return found, nil
}

// isHex reports whether s is all hexadecimal digits.
func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// truncate shortens s for error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
