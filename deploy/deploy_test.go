// Package deploy holds the deployment files (compose.yaml, myaccount.service; the Dockerfile
// is at the repository root) and the tests that keep them honest: every variable they set is
// one the server reads, the image is multi-stage, non-root, with a volume and a health check
// that uses the binary, and the binary built the way the Dockerfile builds it starts with the
// compose file's settings and answers /readyz.
package deploy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/mail/mailtest"
	"github.com/myaccount/myaccount/internal/server"
	"github.com/myaccount/myaccount/internal/syncbuf"
)

const (
	dockerfilePath = "../Dockerfile"
	composePath    = "compose.yaml"
	unitPath       = "myaccount.service"
	binaryInImage  = "/usr/local/bin/myaccount"
	dataDir        = "/var/lib/myaccount"
)

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, …
	args string
	line int
}

// stage is the instructions from one FROM to the next.
type stage struct {
	from, name string
	ins        []instruction
}

func parseDockerfile(t *testing.T) (args map[string]string, stages []*stage) {
	t.Helper()
	f, err := os.Open(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	args = map[string]string{}
	sc := bufio.NewScanner(f)
	var cur strings.Builder
	start, n := 0, 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		cmd, rest, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(rest), line: start}
		switch {
		case in.cmd == "FROM":
			st := &stage{}
			fields := strings.Fields(in.args)
			st.from = fields[0]
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				st.name = fields[2]
			}
			stages = append(stages, st)
		case len(stages) == 0 && in.cmd == "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			args[k] = strings.Trim(v, `"`)
		case len(stages) > 0:
			stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
		default:
			t.Fatalf("Dockerfile:%d: %s before the first FROM", start, in.cmd)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return args, stages
}

// expand replaces ${NAME} and $NAME from vars.
func expand(s string, vars map[string]string) string {
	return os.Expand(s, func(k string) string { return vars[k] })
}

func (s *stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// env returns the stage's ARG defaults and ENV values (KEY=VALUE forms).
func (s *stage) env(t *testing.T) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, in := range s.ins {
		switch in.cmd {
		case "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			vars[k] = strings.Trim(v, `"`)
		case "ENV":
			for _, kv := range strings.Fields(in.args) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("Dockerfile:%d: ENV %q: use KEY=VALUE", in.line, kv)
				}
				vars[k] = strings.Trim(v, `"`)
			}
		}
	}
	return vars
}

// execForm decodes a JSON-array (exec form) argument list.
func execForm(t *testing.T, in instruction, s string) []string {
	t.Helper()
	var out []string
	if err := yaml.Unmarshal([]byte(s), &out); err != nil || len(out) == 0 || !strings.HasPrefix(strings.TrimSpace(s), "[") {
		t.Fatalf("Dockerfile:%d: %s %q: want the exec form [\"…\"]", in.line, in.cmd, s)
	}
	return out
}

// configReads reports which environment variables config.Load looks up.
func configReads(t *testing.T) map[string]bool {
	t.Helper()
	read := map[string]bool{}
	if _, err := config.Load("", func(k string) string { read[k] = true; return "" }); err != nil {
		t.Fatal(err)
	}
	return read
}

// TestDockerfile checks the image's properties: multi-stage with cgo in the builder, a
// runtime of the same Debian release, a non-root user, the data volume owned by that user,
// the exposed port the server listens on, and a health check that runs the binary itself.
func TestDockerfile(t *testing.T) {
	args, stages := parseDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	builderImage, runtimeImage := expand(build.from, args), expand(final.from, args)
	if build.name == "" || !strings.HasPrefix(builderImage, "golang:1.26") {
		t.Errorf("builder stage: FROM %s AS %q, want a named golang:1.26 stage", builderImage, build.name)
	}
	// cgo links the C library dynamically: the runtime must be the builder's Debian release.
	for builderRelease, runtimeRelease := range map[string]string{"bookworm": "debian12", "trixie": "debian13"} {
		if strings.Contains(builderImage, builderRelease) != strings.Contains(runtimeImage, runtimeRelease) {
			t.Errorf("builder %s and runtime %s are different Debian releases (glibc)", builderImage, runtimeImage)
		}
	}
	if env := build.env(t); env["CGO_ENABLED"] != "1" {
		t.Errorf("builder: CGO_ENABLED=%q, want 1 (go-sqlite3)", env["CGO_ENABLED"])
	}
	if !slices.ContainsFunc(build.all("RUN"), func(in instruction) bool { return strings.Contains(in.args, "go build") }) {
		t.Error("builder: no RUN go build")
	}

	users := final.all("USER")
	if len(users) == 0 {
		t.Fatal("runtime stage: no USER (it would run as root)")
	}
	user := strings.Split(users[len(users)-1].args, ":")[0]
	if user == "" || user == "root" || user == "0" {
		t.Errorf("runtime stage: USER %q is root", users[len(users)-1].args)
	}

	var volumes []string
	for _, in := range final.all("VOLUME") {
		if strings.HasPrefix(in.args, "[") {
			volumes = append(volumes, execForm(t, in, in.args)...)
		} else {
			volumes = append(volumes, strings.Fields(in.args)...)
		}
	}
	if !slices.Contains(volumes, dataDir) {
		t.Errorf("runtime stage: VOLUME %v lacks %s", volumes, dataDir)
	}
	env := final.env(t)
	if env["MYACCOUNT_DATA_DIR"] != dataDir {
		t.Errorf("MYACCOUNT_DATA_DIR=%q, want the volume %s", env["MYACCOUNT_DATA_DIR"], dataDir)
	}
	reads := configReads(t)
	for k := range env {
		if strings.HasPrefix(k, "MYACCOUNT_") && !reads[k] {
			t.Errorf("ENV %s: the server reads no such variable", k)
		}
	}
	// The volume's directory is created owned by the runtime user, or a new named volume is
	// root's and the server cannot write its database.
	owned := false
	for _, in := range final.all("COPY") {
		if strings.Contains(in.args, dataDir) && strings.Contains(in.args, "--chown="+user) {
			owned = true
		}
	}
	if !owned {
		t.Errorf("runtime stage: %s is not created with --chown=%s", dataDir, user)
	}

	_, port, err := net.SplitHostPort(env["MYACCOUNT_LISTEN"])
	if err != nil {
		t.Fatalf("MYACCOUNT_LISTEN=%q: %v", env["MYACCOUNT_LISTEN"], err)
	}
	var exposed []string
	for _, in := range final.all("EXPOSE") {
		exposed = append(exposed, strings.Fields(in.args)...)
	}
	if !slices.Contains(exposed, port) && !slices.Contains(exposed, port+"/tcp") {
		t.Errorf("EXPOSE %v lacks the listener's port %s", exposed, port)
	}

	copied := slices.ContainsFunc(final.all("COPY"), func(in instruction) bool {
		return strings.Contains(in.args, "--from="+build.name) && strings.HasSuffix(in.args, " "+binaryInImage)
	})
	if !copied {
		t.Errorf("runtime stage: the binary is not copied from %q to %s", build.name, binaryInImage)
	}
	hc := final.all("HEALTHCHECK")
	if len(hc) != 1 {
		t.Fatalf("runtime stage: want one HEALTHCHECK, got %d", len(hc))
	}
	_, cmd, ok := strings.Cut(hc[0].args, "CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %q has no CMD", hc[0].args)
	}
	if argv := execForm(t, hc[0], cmd); argv[0] != binaryInImage || !slices.Contains(argv, "healthcheck") {
		t.Errorf("HEALTHCHECK runs %v, want %s healthcheck", argv, binaryInImage)
	}
	ep := final.all("ENTRYPOINT")
	if len(ep) != 1 || execForm(t, ep[0], ep[0].args)[0] != binaryInImage {
		t.Errorf("ENTRYPOINT %v, want %s", ep, binaryInImage)
	}

	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{".git", "data", "**/master.key"} {
		if !slices.Contains(strings.Fields(string(ignore)), must) {
			t.Errorf(".dockerignore lacks %s", must)
		}
	}
}

type composeFile struct {
	Services map[string]struct {
		Image string `yaml:"image"`
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		DependsOn       map[string]any    `yaml:"depends_on"`
		Environment     map[string]string `yaml:"environment"`
		Volumes         []string          `yaml:"volumes"`
		StopGracePeriod string            `yaml:"stop_grace_period"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func parseCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCompose: the compose file wires MyAccount to PostgreSQL and the SMTP catcher by
// service name, sets only variables the server reads (a misspelt one would be silently
// ignored), and its settings load and validate as they stand.
func TestCompose(t *testing.T) {
	c := parseCompose(t)
	ma, ok := c.Services["myaccount"]
	if !ok {
		t.Fatalf("no myaccount service; have %v", c.Services)
	}
	if !strings.HasPrefix(c.Services["postgres"].Image, "postgres:15") {
		t.Errorf("postgres service image %q, want postgres:15", c.Services["postgres"].Image)
	}
	if !strings.Contains(c.Services["mailpit"].Image, "mailpit") {
		t.Errorf("mailpit service image %q", c.Services["mailpit"].Image)
	}
	if ma.Build == nil {
		t.Fatal("myaccount service is not built from this repository")
	}
	if _, err := os.Stat(filepath.Join(ma.Build.Context, ma.Build.Dockerfile)); err != nil {
		t.Errorf("build: %v", err)
	}
	for name, s := range c.Services {
		for dep := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("service %s depends on %s, which is not defined", name, dep)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
				if _, ok := c.Volumes[src]; !ok {
					t.Errorf("service %s mounts volume %s, which is not declared", name, src)
				}
			}
		}
	}

	reads := configReads(t)
	for k := range ma.Environment {
		if (strings.HasPrefix(k, "MYACCOUNT_") || strings.HasPrefix(k, "OTEL_")) && !reads[k] {
			t.Errorf("environment %s: the server reads no such variable", k)
		}
	}
	env := ma.Environment
	cfg, err := config.Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the compose settings do not load: %v", err)
	}
	if cfg.DatabaseDriver() != config.DriverPostgres || cfg.DataDir != dataDir {
		t.Errorf("database %s in %s, want PostgreSQL and the image's volume", cfg.DatabaseDriver(), cfg.DataDir)
	}
	u, err := url.Parse(env["MYACCOUNT_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	for what, host := range map[string]string{"database": u.Hostname(), "SMTP": cfg.Mail.SMTP.Host} {
		if _, ok := c.Services[host]; !ok {
			t.Errorf("%s host %q is not a service of the compose file", what, host)
		}
		if _, ok := ma.DependsOn[host]; !ok {
			t.Errorf("myaccount does not depend on %s (its %s)", host, what)
		}
	}
	if !slices.ContainsFunc(ma.Volumes, func(v string) bool { return strings.HasSuffix(v, ":"+dataDir) }) {
		t.Errorf("myaccount volumes %v: nothing mounted at %s", ma.Volumes, dataDir)
	}
	grace, err := time.ParseDuration(ma.StopGracePeriod)
	if err != nil || grace <= server.ShutdownGrace {
		t.Errorf("stop_grace_period %q must exceed the %s drain", ma.StopGracePeriod, server.ShutdownGrace)
	}
}

// unit parses a systemd unit into section -> key -> values.
func parseUnit(t *testing.T, data []byte) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	section := ""
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not KEY=VALUE in a section: %q", unitPath, i+1, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

// knownKeys are the unit keys this unit may use: the fallback check where systemd-analyze
// is not installed (a typo in a hardening option would be ignored by systemd).
var knownKeys = map[string][]string{
	"Unit": {"Description", "Documentation", "After", "Wants", "Requires"},
	"Service": {"Type", "ExecStart", "ExecReload", "Environment", "EnvironmentFile", "DynamicUser", "User", "Group",
		"StateDirectory", "StateDirectoryMode", "UMask", "WorkingDirectory", "KillSignal", "TimeoutStopSec",
		"Restart", "RestartSec", "NoNewPrivileges", "CapabilityBoundingSet", "AmbientCapabilities",
		"ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
		"ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock", "ProtectHostname",
		"ProtectProc", "ProcSubset", "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID",
		"LockPersonality", "MemoryDenyWriteExecute", "RemoveIPC", "RestrictAddressFamilies",
		"SystemCallArchitectures", "SystemCallFilter", "SystemCallErrorNumber", "LimitNOFILE"},
	"Install": {"WantedBy"},
}

// TestSystemdUnit: the unit runs unprivileged with its state in StateDirectory, the hardening
// options are set, it restarts on failure and waits longer than the drain before SIGKILL;
// systemd-analyze verify accepts it where installed, else its keys are checked by name.
func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	u := parseUnit(t, data)
	svc := u["Service"]
	one := func(k string) string {
		if v := svc[k]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	for k, want := range map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"CapabilityBoundingSet": "", "Restart": "on-failure", "StateDirectory": "myaccount",
	} {
		if _, ok := svc[k]; !ok || one(k) != want {
			t.Errorf("[Service] %s=%q, want %q", k, one(k), want)
		}
	}
	if one("DynamicUser") != "yes" && one("User") == "" {
		t.Error("[Service] neither DynamicUser=yes nor a User=")
	}
	if !slices.Contains(svc["SystemCallFilter"], "@system-service") {
		t.Errorf("[Service] SystemCallFilter %v lacks @system-service", svc["SystemCallFilter"])
	}
	if fams := one("RestrictAddressFamilies"); fams == "" || strings.Contains(fams, "AF_PACKET") || strings.Contains(fams, "AF_NETLINK") {
		t.Errorf("[Service] RestrictAddressFamilies=%q", fams)
	}
	if stop, err := time.ParseDuration(one("TimeoutStopSec")); err != nil || stop <= server.ShutdownGrace {
		t.Errorf("[Service] TimeoutStopSec=%q must exceed the %s drain", one("TimeoutStopSec"), server.ShutdownGrace)
	}
	if !strings.HasPrefix(one("ExecStart"), binaryInImage+" serve") {
		t.Errorf("[Service] ExecStart=%q", one("ExecStart"))
	}
	reads := configReads(t)
	env := map[string]string{}
	for _, e := range svc["Environment"] {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
		if !reads[k] {
			t.Errorf("[Service] Environment=%s: the server reads no such variable", k)
		}
	}
	if env["MYACCOUNT_DATA_DIR"] != "/var/lib/"+one("StateDirectory") {
		t.Errorf("MYACCOUNT_DATA_DIR=%q is not the StateDirectory", env["MYACCOUNT_DATA_DIR"])
	}
	if _, err := config.Load("", func(k string) string { return env[k] }); err != nil {
		t.Errorf("the unit's settings do not load: %v", err)
	}
	for section, keys := range u {
		for k := range keys {
			if !slices.Contains(knownKeys[section], k) {
				t.Errorf("[%s] %s: not a key this test knows (add it after checking systemd.exec(5))", section, k)
			}
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: checked the unit's keys against a list only")
		return
	}
	// verify also checks that ExecStart exists: point it at an executable that does.
	dir := t.TempDir()
	unit := strings.ReplaceAll(string(data), binaryInImage, "/bin/true")
	if err := os.WriteFile(filepath.Join(dir, "myaccount.service"), []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", filepath.Join(dir, "myaccount.service")).CombinedOutput()
	// verify exits 0 on unknown keys and bad values ("…, ignoring"): any line about our unit
	// is a failure.
	var complaints []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "myaccount.service") {
			complaints = append(complaints, l)
		}
	}
	if err != nil || len(complaints) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

var goBuild = regexp.MustCompile(`go build .*`)

// buildLikeDockerfile builds cmd/myaccount with the builder stage's RUN go build command, its
// ARG defaults and ENV (CGO_ENABLED), into dir.
func buildLikeDockerfile(t *testing.T, dir string) string {
	t.Helper()
	_, stages := parseDockerfile(t)
	build := stages[0]
	var cmd string
	for _, in := range build.all("RUN") {
		if m := goBuild.FindString(in.args); m != "" {
			cmd = m
		}
	}
	if cmd == "" {
		t.Fatal("no go build in the builder stage")
	}
	bin := filepath.Join(dir, "myaccount")
	cmd = strings.ReplaceAll(cmd, "/out/myaccount", bin)
	sh := exec.Command("sh", "-c", cmd)
	sh.Dir = ".."
	sh.Env = os.Environ()
	for k, v := range build.env(t) {
		sh.Env = append(sh.Env, k+"="+v)
	}
	t.Logf("building as the Dockerfile does: %s (%v)", cmd, build.env(t))
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(t *testing.T, url string, within time.Duration, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("%s: %s", resp.Status, body)
		}
		select {
		case werr := <-exited:
			t.Fatalf("the server exited before %s answered 200: %v", url, werr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within %s: %v", url, within, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBinaryStartsWithComposeSettings builds the binary as the Dockerfile does, starts it
// with the compose file's environment on a scratch directory (SQLite instead of the
// PostgreSQL service; the SMTP catcher replaced by one on loopback), and checks /readyz, the
// image's HEALTHCHECK command, the metrics listener, and a clean exit on SIGTERM.
func TestBinaryStartsWithComposeSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildLikeDockerfile(t, t.TempDir())
	smtp := mailtest.NewServer(t)
	env := map[string]string{}
	for k, v := range parseCompose(t).Services["myaccount"].Environment {
		env[k] = v
	}
	delete(env, "MYACCOUNT_DATABASE_URL") // SQLite in the data directory
	listen, metrics := freePort(t), freePort(t)
	env["MYACCOUNT_DATA_DIR"] = t.TempDir()
	env["MYACCOUNT_LISTEN"] = listen
	env["MYACCOUNT_METRICS_LISTEN"] = metrics
	env["MYACCOUNT_SMTP_HOST"] = smtp.Host()
	env["MYACCOUNT_SMTP_PORT"] = fmt.Sprint(smtp.Port())
	environ := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}

	var log syncbuf.Buffer // written by the exec package's copying goroutine while we read it
	srv := exec.Command(bin, "serve")
	srv.Env, srv.Stdout, srv.Stderr = environ, &log, &log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	defer func() {
		if srv.ProcessState == nil {
			srv.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("server log:\n%s", log.String())
		}
	}()
	waitReady(t, "http://"+listen+"/readyz", 60*time.Second, exited)

	// The image's HEALTHCHECK, as the container runtime runs it (with the image's env).
	_, stages := parseDockerfile(t)
	hc := stages[len(stages)-1].all("HEALTHCHECK")[0]
	_, cmd, _ := strings.Cut(hc.args, "CMD ")
	argv := execForm(t, hc, cmd)
	check := exec.Command(bin, argv[1:]...)
	check.Env = environ
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("HEALTHCHECK %v: %v\n%s", argv, err, out)
	}

	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("myaccount_http_requests_total")) {
		t.Errorf("metrics: %s\n%.300s", resp.Status, body)
	}
	if !strings.Contains(log.String(), `"level":"INFO"`) {
		t.Errorf("log is not JSON (MYACCOUNT_LOG_FORMAT=json):\n%.500s", log.String())
	}

	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(server.ShutdownGrace + 5*time.Second):
		t.Errorf("still running %s after SIGTERM", server.ShutdownGrace+5*time.Second)
	}
}

// TestDockerImage builds the image and runs it when a Docker daemon answers. Machines
// without one (CI here has only the client) skip it loudly: the tests above still check the
// Dockerfile and build the binary the same way.
func TestDockerImage(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("SKIPPED: no docker client; the image was NOT built or run (TestDockerfile checked the file)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, docker, "info").CombinedOutput(); err != nil {
		t.Skipf("SKIPPED: docker info failed (no daemon?); the image was NOT built or run: %v\n%s", err, bytes.TrimSpace(out))
	}
	if testing.Short() {
		t.Skip("builds an image")
	}
	tag := fmt.Sprintf("myaccount-test:%d", time.Now().UnixNano())
	run := func(timeout time.Duration, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, docker, args...)
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run(20*time.Minute, "build", "-t", tag, ".")
	t.Cleanup(func() { exec.Command(docker, "rmi", "-f", tag).Run() })
	id := run(time.Minute, "run", "-d", "-p", "127.0.0.1::8080", "-e", "MYACCOUNT_ISSUER=http://localhost:8080", tag)
	t.Cleanup(func() { exec.Command(docker, "rm", "-f", id).Run() })
	hostPort := run(time.Minute, "port", id, "8080/tcp")
	waitReady(t, "http://"+strings.Split(hostPort, "\n")[0]+"/readyz", 90*time.Second, nil)
	if out := run(time.Minute, "exec", id, "/usr/local/bin/myaccount", "healthcheck"); !strings.HasPrefix(out, "ok") {
		t.Errorf("healthcheck in the container: %s", out)
	}
	run(time.Minute, "stop", "--time", "30", id)
}
