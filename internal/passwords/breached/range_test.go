package breached

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// rangeServer serves a fixed corpus the way the Pwned Passwords range API does and records
// everything each request carried, so the test can prove the full hash never left.
type rangeServer struct {
	mu       sync.Mutex
	seen     []string // path, query, headers and body of each request
	paddings int      // padding requests seen
	corpus   map[string]int
}

func (s *rangeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.seen = append(s.seen, fmt.Sprintf("%s %s %v %s", r.URL.Path, r.URL.RawQuery, r.Header, body))
	if r.Header.Get("Add-Padding") == "true" {
		s.paddings++
	}
	s.mu.Unlock()
	if r.Header.Get("User-Agent") == "" {
		http.Error(w, "no user agent", http.StatusForbidden)
		return
	}
	prefix := strings.TrimPrefix(r.URL.Path, "/range/")
	if len(prefix) != 5 {
		http.Error(w, "bad prefix", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	// Answer with every corpus suffix under the prefix plus decoys and padding (count 0), in
	// the API's CRLF format, mixing hex case.
	fmt.Fprintf(w, "%s:12\r\n", strings.Repeat("0", 35))
	for full, n := range s.corpus {
		if strings.HasPrefix(full, prefix) {
			fmt.Fprintf(w, "%s:%d\r\n", strings.ToLower(full[5:]), n)
		}
	}
	fmt.Fprintf(w, "%s:0\r\n", strings.Repeat("F", 35))
}

func newRangeServer(t *testing.T, corpus ...string) (*rangeServer, *httptest.Server) {
	t.Helper()
	rs := &rangeServer{corpus: map[string]int{}}
	for i, pw := range corpus {
		rs.corpus[sha1Hex(pw)] = 1000 * (i + 1)
	}
	srv := httptest.NewServer(rs)
	t.Cleanup(srv.Close)
	return rs, srv
}

func TestRangeChecker(t *testing.T) {
	rs, srv := newRangeServer(t, "password", "hunter2")
	rc := &RangeChecker{URL: srv.URL + "/range", Client: srv.Client()}
	ctx := context.Background()

	for _, tc := range []struct {
		pw    string
		want  bool
		count int
	}{
		{"password", true, 1000},
		{"hunter2", true, 2000},
		{"a perfectly unremarkable passphrase 9f2", false, 0},
	} {
		got, err := rc.Breached(ctx, tc.pw)
		if err != nil {
			t.Fatalf("Breached(%q): %v", tc.pw, err)
		}
		if got != tc.want {
			t.Errorf("Breached(%q) = %v, want %v", tc.pw, got, tc.want)
		}
		n, err := rc.BreachCount(ctx, tc.pw)
		if err != nil || n != tc.count {
			t.Errorf("BreachCount(%q) = %d, %v; want %d", tc.pw, n, err, tc.count)
		}
	}

	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.paddings != len(rs.seen) {
		t.Errorf("%d of %d requests asked for padding", rs.paddings, len(rs.seen))
	}
	for _, pw := range []string{"password", "hunter2", "a perfectly unremarkable passphrase 9f2"} {
		full := sha1Hex(pw)
		for _, req := range rs.seen {
			up := strings.ToUpper(req)
			if strings.Contains(up, full[:6]) || strings.Contains(up, full[5:]) || strings.Contains(req, pw) {
				t.Errorf("request %q reveals more than the 5-digit prefix of %q", req, pw)
			}
		}
	}
	for _, req := range rs.seen {
		path, _, _ := strings.Cut(req, " ")
		if len(strings.TrimPrefix(path, "/range/")) != 5 {
			t.Errorf("request path %q is not /range/ plus 5 hex digits", path)
		}
	}
}

func TestRangeCheckerPaddingNeverMatches(t *testing.T) {
	// A suffix that the server lists with count 0 is padding, not a breach.
	full := sha1Hex("padded")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s:0\n", full[5:])
	}))
	defer srv.Close()
	rc := &RangeChecker{URL: srv.URL + "/", Client: srv.Client()}
	if got, err := rc.Breached(context.Background(), "padded"); err != nil || got {
		t.Fatalf("Breached = %v, %v; want false, nil", got, err)
	}
}

func TestRangeCheckerErrors(t *testing.T) {
	ctx := context.Background()
	serve := func(status int, body string) *RangeChecker {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			io.WriteString(w, body)
		}))
		t.Cleanup(srv.Close)
		return &RangeChecker{URL: srv.URL, Client: srv.Client()}
	}

	if _, err := serve(http.StatusServiceUnavailable, "busy").Breached(ctx, "x"); err == nil {
		t.Error("503: no error")
	}
	_, err := serve(http.StatusOK, "<html>captive portal</html>").Breached(ctx, "x")
	if !errors.Is(err, ErrBadRangeResponse) {
		t.Errorf("HTML answer: err = %v, want ErrBadRangeResponse", err)
	}
	_, err = serve(http.StatusOK, strings.Repeat("A", 35)+":many\n").Breached(ctx, "x")
	if !errors.Is(err, ErrBadRangeResponse) {
		t.Errorf("bad count: err = %v, want ErrBadRangeResponse", err)
	}

	// A hanging server is cut off by the context.
	block := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(block)
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	rc := &RangeChecker{URL: hang.URL, Client: hang.Client()}
	if _, err := rc.Breached(cctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hanging server: err = %v, want context.DeadlineExceeded", err)
	}
}

func TestFindSuffix(t *testing.T) {
	suffix := strings.Repeat("A", 35)
	body := "\r\n" + strings.ToLower(suffix) + ":7\r\n" + strings.Repeat("B", 35) + ":3\r\n"
	n, err := findSuffix(strings.NewReader(body), suffix)
	if err != nil || n != 7 {
		t.Fatalf("findSuffix = %d, %v; want 7, nil", n, err)
	}
	if n, err := findSuffix(strings.NewReader(""), suffix); err != nil || n != 0 {
		t.Fatalf("empty body: %d, %v", n, err)
	}
}
