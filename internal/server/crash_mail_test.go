package server_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/internal/syncbuf"
)

// TestCrashLosesNoMail asks for password-reset links from many accounts against a real
// `myaccount serve` process, SIGKILLs it at random moments and restarts it, while the mail
// relay loses some of its answers. Every request that was answered "we sent a link" gets its
// mail: the outbox commits with the request and the restarted process (its claims lapsed)
// sends what the killed one had taken. A mail sent twice (its answer lost, or its sending
// cut by the kill) carries one Message-ID.
func TestCrashLosesNoMail(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and crashes a real server process")
	}
	t.Parallel() // its own process, database and relay; it mostly waits for retries
	const (
		users   = 60
		workers = 4
		kills   = 3
	)
	bin := buildMyAccount(t)
	dir := t.TempDir()
	relay := mailtest.NewServer(t)
	const lost = 3
	relay.LoseAnswers(lost)
	addr := freeLoopbackAddr(t)
	issuer := "http://" + addr
	cfgPath := filepath.Join(dir, "config.yaml")
	// Claims of a killed process lapse after one claim lease, the shortest the config takes.
	if err := os.WriteFile(cfgPath, []byte("mail:\n  send_timeout: 2s\n  claim_lease: 3s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"MYACCOUNT_ISSUER="+issuer, "MYACCOUNT_LISTEN="+addr, "MYACCOUNT_DATA_DIR="+dir,
		"MYACCOUNT_SMTP_HOST="+relay.Host(), "MYACCOUNT_SMTP_PORT="+strconv.Itoa(relay.Port()),
		"MYACCOUNT_SMTP_STARTTLS=none", "MYACCOUNT_MAIL_FROM=MyAccount <no-reply@myaccount.test>",
		// Each request comes from its own address, as from many people behind one proxy,
		// so the per-address limit of reset mails does not drop any.
		"MYACCOUNT_TRUSTED_PROXIES=127.0.0.1",
		"MYACCOUNT_LOG_LEVEL=info", "MYACCOUNT_LOG_FORMAT=text")
	srv := &child{t: t, bin: bin, env: env, args: []string{"--config", cfgPath}, addr: issuer, logBuf: &syncbuf.Buffer{}}
	srv.cli("", "seed", "--config", cfgPath, "--users", strconv.Itoa(users))
	srv.start()
	t.Cleanup(srv.kill)

	// ask sends one person's request for a link: the form, then its POST. It reports whether
	// the answer said the link was sent; any other outcome (no answer, 5xx) is retried.
	var sent atomic.Int64
	ask := func(i int) bool {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
		do := func(req *http.Request) (int, string, error) {
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1))
			resp, err := c.Do(req)
			if err != nil {
				return 0, "", err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b), err
		}
		req, _ := http.NewRequest(http.MethodGet, issuer+"/forgot", nil)
		st, body, err := do(req)
		if err != nil || st != http.StatusOK {
			return false
		}
		f := (&page{body: body}).formValues()
		f.Set("email", fmt.Sprintf("seed%d@example.com", i))
		req, _ = http.NewRequest(http.MethodPost, issuer+"/forgot", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		st, body, err = do(req)
		switch {
		case err != nil || st >= 500:
			return false
		case st != http.StatusOK || !strings.Contains(body, `role="status"`):
			t.Errorf("seed%d: %d, not the answer that a link was sent:\n%.400s", i, st, body)
			return true // not retried: a refusal is not our failure to recover from
		}
		sent.Add(1)
		return true
	}

	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < users; i = int(next.Add(1)) - 1 {
				for !ask(i) {
					time.Sleep(25 * time.Millisecond)
				}
				time.Sleep(time.Duration(30+rand.IntN(60)) * time.Millisecond)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for k := 0; k < kills; k++ {
		select {
		case <-done:
		case <-time.After(time.Duration(100+rand.IntN(200)) * time.Millisecond):
		}
		srv.kill()
		srv.start()
		t.Logf("kill %d: restarted, %d links sent so far", k+1, sent.Load())
	}
	<-done
	if int(sent.Load()) != users {
		t.Fatalf("%d of %d requests answered", sent.Load(), users)
	}

	// Every account gets its link; the lost answers and killed attempts repeat some. The last
	// to come are the killed process's claims (lapsed after 3s) and the lost answers' retries
	// (after the first backoff, at most 10s).
	ids := map[string]map[string]int{} // recipient -> Message-ID -> copies
	deadline := time.Now().Add(25 * time.Second)
	copies := 0
	for (len(ids) < users || copies < lost) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		clear(ids)
		for _, m := range relay.Messages() {
			if mailtest.FirstLink(m.Text, issuer+"/reset?token=") == "" {
				continue
			}
			if ids[m.To[0]] == nil {
				ids[m.To[0]] = map[string]int{}
			}
			ids[m.To[0]][m.Header.Get("Message-Id")]++
		}
		copies = len(relay.Messages()) - countIDs(ids)
	}
	copies = 0
	for i := range users {
		to := fmt.Sprintf("seed%d@example.com", i)
		switch got := ids[to]; {
		case len(got) == 0:
			t.Errorf("%s was told a link was sent, and none came", to)
		default:
			for id, n := range got {
				copies += n - 1
				if len(got) > 1 {
					t.Logf("%s: %d copies of %s", to, n, id)
				}
			}
		}
	}
	t.Logf("%d kills, %d requests, %d mails; %d copies sent again under their Message-ID",
		kills, users, len(relay.Messages()), copies)
	if copies < lost {
		t.Errorf("%d copies sent again under their Message-ID, want at least the %d whose answers the relay lost", copies, lost)
	}
	srv.logTailIfFailed()
}

// countIDs counts the distinct Message-IDs of ids.
func countIDs(ids map[string]map[string]int) int {
	n := 0
	for _, m := range ids {
		n += len(m)
	}
	return n
}
