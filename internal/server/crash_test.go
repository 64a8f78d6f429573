package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/syncbuf"
)

// crashBinEnv names a prebuilt myaccount binary to crash instead of building this tree's: it
// lets the same test measure an older version (the "before" figure of families lost).
const crashBinEnv = "MYACCOUNT_CRASH_TEST_BIN"

// child is `myaccount serve` running as a separate process on a fixed data dir and port.
type child struct {
	t      *testing.T
	bin    string
	env    []string
	args   []string // after "serve"
	addr   string
	logBuf *syncbuf.Buffer
	cmd    *exec.Cmd
}

func (c *child) start() {
	c.t.Helper()
	cmd := exec.Command(c.bin, append([]string{"serve"}, c.args...)...)
	cmd.Env = c.env
	cmd.Stdout, cmd.Stderr = c.logBuf, c.logBuf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.cmd = cmd
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(c.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("myaccount serve did not come up:\n%s", c.logBuf.String())
}

// kill sends SIGKILL: no shutdown hook, no flush, as when the machine or the OOM killer
// takes the process.
func (c *child) kill() {
	c.t.Helper()
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
	c.cmd = nil
}

// cli runs a myaccount command against the child's data dir and returns its stdout.
// logTailIfFailed logs the end of the server's log when the test has failed.
func (c *child) logTailIfFailed() {
	if !c.t.Failed() {
		return
	}
	logs := c.logBuf.String()
	if len(logs) > 8000 {
		logs = logs[len(logs)-8000:]
	}
	c.t.Logf("server log (tail):\n%s", logs)
}

func (c *child) cli(stdin string, args ...string) string {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("myaccount %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// builtMyAccount is this tree's myaccount binary, built once per test binary for every test
// that runs it as a child process: a build links the whole server, some 8 s on a 2-core
// machine even with a warm cache. TestMain removes its directory after the tests.
var builtMyAccount struct {
	once     sync.Once
	dir, bin string
	err      error
}

// buildMyAccount returns the path of a myaccount binary built from this tree (or the one
// crashBinEnv names). The binary is shared: a test must not change or remove it.
func buildMyAccount(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv(crashBinEnv); bin != "" {
		return bin
	}
	b := &builtMyAccount
	b.once.Do(func() {
		root, err := filepath.Abs("../..")
		if err != nil {
			b.err = err
			return
		}
		if b.dir, err = os.MkdirTemp("", "myaccount-server-test-bin-"); err != nil {
			b.err = err
			return
		}
		bin := filepath.Join(b.dir, "myaccount")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/myaccount")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		b.bin = bin
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}

// removeBuiltMyAccount removes the binary buildMyAccount built, if it did.
func removeBuiltMyAccount() {
	if builtMyAccount.dir != "" {
		os.RemoveAll(builtMyAccount.dir)
	}
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// crashFamily is one client's refresh-token chain as the client holds it.
type crashFamily struct {
	rt        string // the newest refresh token the client received
	rotations int
	// lostResponses counts requests that got no answer (the process died under them, or
	// answered 5xx); recovered counts those whose retry with the same token then succeeded.
	lostResponses, recovered int
	lost                     string // why the family died ("" while alive)
}

// TestCrashKeepsRefreshFamilies runs refresh-token rotations against a real `myaccount serve`
// process and SIGKILLs it several times at random moments. Every family whose last answer the
// client saw must keep working, and a client whose request died with the process recovers by
// retrying its previous token (within tokens.refresh_reuse_interval).
func TestCrashKeepsRefreshFamilies(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and crashes a real server process")
	}
	const (
		families = 6
		kills    = 5
	)
	bin := buildMyAccount(t)
	dir := t.TempDir()
	addr := freeLoopbackAddr(t)
	issuer := "http://" + addr
	env := append(os.Environ(),
		"MYACCOUNT_ISSUER="+issuer, "MYACCOUNT_LISTEN="+addr, "MYACCOUNT_DATA_DIR="+dir,
		"MYACCOUNT_LOG_LEVEL=info", "MYACCOUNT_LOG_FORMAT=text")
	srv := &child{t: t, bin: bin, env: env, addr: issuer, logBuf: &syncbuf.Buffer{}}
	srv.start()
	t.Cleanup(srv.kill)

	// Set up as an operator would, through the CLI, with the server running.
	srv.cli(testPassword+"\n", "user", "create", "--email", "ada@example.com", "--password-stdin", "--name", "Ada Lovelace", "--country", "DE", "--region", "BY")
	var created struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	out := srv.cli("", "client", "create", "--name", "Crash test", "--type", "confidential",
		"--redirect-uri", "https://rp.example/cb", "--first-party", "--json")
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("client create output %q: %v", out, err)
	}
	client := &testClient{ID: created.ID, Secret: created.Secret, Redirect: "https://rp.example/cb"}

	// One sign-in; each further code flow reuses the SSO session, so each family costs one
	// authorization round trip and one code exchange, not a password hash.
	ce := &testEnv{t: t, issuer: issuer, addr: issuer}
	b := ce.browser()
	fams := make([]*crashFamily, families)
	for i := range fams {
		tok := ce.tokens(context.Background(), b, client, "ada@example.com")
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token")
		}
		fams[i] = &crashFamily{rt: tok.RefreshToken}
	}

	hc := &http.Client{Timeout: 10 * time.Second}
	refresh := func(rt string) (status int, next, errCode string, err error) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(client.ID), url.QueryEscape(client.Secret))
		resp, err := hc.Do(req)
		if err != nil {
			return 0, "", "", err
		}
		defer resp.Body.Close()
		var m struct {
			RefreshToken string `json:"refresh_token"`
			Error        string `json:"error"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			return resp.StatusCode, "", "", fmt.Errorf("decode answer: %w", err) // cut short
		}
		return resp.StatusCode, m.RefreshToken, m.Error, nil
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, f := range fams {
		wg.Go(func() {
			retrying := false
			for !stop.Load() {
				status, next, code, err := refresh(f.rt)
				switch {
				case err == nil && status == 200 && next != "":
					f.rt = next
					f.rotations++
					if retrying {
						f.recovered++
						retrying = false
					}
				case err == nil && status >= 400 && status < 500:
					f.lost = fmt.Sprintf("%d %s", status, code)
					return
				default:
					// No answer, or our failure: the client keeps its token and retries it.
					if !retrying {
						f.lostResponses++
						retrying = true
					}
					time.Sleep(25 * time.Millisecond)
				}
			}
		})
	}

	for k := range kills {
		time.Sleep(time.Duration(200+rand.IntN(600)) * time.Millisecond)
		srv.kill()
		// Restarting takes well under the reuse interval (30 s by default).
		srv.start()
		t.Logf("kill %d: restarted", k+1)
	}
	time.Sleep(300 * time.Millisecond) // let the retries land on the last process
	stop.Store(true)
	wg.Wait()

	lost, rotations, lostResponses, recovered := 0, 0, 0, 0
	for i, f := range fams {
		rotations += f.rotations
		lostResponses += f.lostResponses
		recovered += f.recovered
		if f.lost != "" {
			lost++
			t.Errorf("family %d lost after %d rotations: %s", i, f.rotations, f.lost)
			continue
		}
		// Every family whose last answer the client saw still works.
		if status, next, code, err := refresh(f.rt); err != nil || status != 200 || next == "" {
			lost++
			t.Errorf("family %d: its newest token no longer works: %d %s %v", i, status, code, err)
		}
	}
	graces := strings.Count(srv.logBuf.String(), "refresh retried within the grace")
	t.Logf("%d kills, %d families, %d rotations; %d responses lost with the process, %d recovered by retrying the previous token (%d of them as a retry of a committed rotation); families lost: %d (%.2f per kill)",
		kills, families, rotations, lostResponses, recovered, graces, lost, float64(lost)/kills)
	if lostResponses > recovered {
		t.Errorf("%d lost responses, only %d recovered", lostResponses, recovered)
	}
	srv.logTailIfFailed()
}
