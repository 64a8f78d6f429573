package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// cluster is a throwaway PostgreSQL cluster: a data directory and a postmaster, both in a
// temporary directory that stop removes.
type cluster struct {
	dir    string // the temporary directory; also where the unix socket lives
	port   int    // only names the socket file: the cluster does not listen on TCP
	proc   *os.Process
	exited chan error // receives the postmaster's exit status
}

// port is fixed: with no TCP listener, the socket directory alone keeps clusters apart.
const clusterPort = 5432

// startCluster runs initdb and starts the postmaster, and waits until it accepts
// connections.
func startCluster(ctx context.Context) (*cluster, error) {
	bin, err := findServerBinaries()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	parent := clusterParent()
	removeStale(parent)
	dir, err := os.MkdirTemp(parent, clusterDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	// Claim the directory, so that a later run can tell it was abandoned (see removeStale).
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	c := &cluster{dir: dir, port: clusterPort, exited: make(chan error, 1)}
	if err := c.init(ctx, bin, cred); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := c.startPostmaster(ctx, bin, cred); err != nil {
		return nil, errors.Join(err, c.stop())
	}
	return c, nil
}

const (
	clusterDirPrefix = "myaccount-pgtest-"
	ownerFile        = "owner.pid" // the pid of the test binary that made the directory
)

// clusterParent picks where clusters live: /dev/shm when it is there with room to spare,
// because creating a database writes some 8 MB in hundreds of files and on a disk that
// makes each test's CREATE DATABASE several times slower (0.4 s against 0.1 s measured);
// else the temp dir. Containers often get a 64 MB /dev/shm, too small for a cluster.
func clusterParent() string {
	const shm = "/dev/shm"
	const need = 1 << 30
	var fs syscall.Statfs_t
	if err := syscall.Statfs(shm, &fs); err == nil && fs.Bavail*uint64(fs.Bsize) >= need {
		if f, err := os.CreateTemp(shm, clusterDirPrefix+"probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return shm
		}
	}
	return os.TempDir()
}

// removeStale deletes cluster directories left in parent by test binaries that were
// killed before they could clean up (their postmaster went with them, by Pdeathsig, but
// the files stay, and in /dev/shm they hold memory). A directory is stale when the process
// named in its owner file no longer exists; one without an owner file is left alone, as it
// may be another binary's in the middle of starting.
func removeStale(parent string) {
	dirs, _ := filepath.Glob(filepath.Join(parent, clusterDirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}

// findServerBinaries returns the directory holding initdb and postgres: the one in PATH,
// else the newest under the places distributions install versioned server binaries (Debian
// and Ubuntu keep them out of PATH).
func findServerBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	var dirs []string
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin"} {
		m, _ := filepath.Glob(pattern) // patterns are constant and valid
		dirs = append(dirs, m...)
	}
	// Newest version first: compare the version component numerically (9.6 < 15).
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(strings.TrimPrefix(filepath.Base(filepath.Dir(d)), "pgsql-"), 64)
		return v
	}
	sort.SliceStable(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
				return d, nil
			}
		}
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, postgres) in PATH or /usr/lib/postgresql/*/bin")
}

// runAs returns the credentials to run the server with: nil (ourselves) unless we are root,
// in which case the "postgres" system user's, since initdb and postgres refuse root.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and there is no \"postgres\" user to run the server as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// command builds a server command running as cred in the cluster directory. PG*
// variables are dropped so the caller's environment cannot point it elsewhere.
func (c *cluster) command(ctx context.Context, bin, name string, cred *syscall.Credential, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
	cmd.Dir = c.dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "LC_") && !strings.HasPrefix(kv, "LANG=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "LC_ALL=C", "LANG=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return cmd
}

func (c *cluster) init(ctx context.Context, bin string, cred *syscall.Credential) error {
	if cred != nil {
		if err := os.Chown(c.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("give %s to user postgres: %w", c.dir, err)
		}
	}
	out, err := c.command(ctx, bin, "initdb", cred,
		"-D", filepath.Join(c.dir, "data"), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb in %s: %w\n%s", c.dir, err, out)
	}
	return nil
}

// startPostmaster starts the server in the foreground of a goroutine locked to its OS
// thread, with the kernel told to send it SIGQUIT (immediate shutdown) when that thread
// dies: so the server also goes away when the test binary is killed, e.g. by a test
// timeout, instead of lingering. (Pdeathsig follows the thread that forked, hence the
// locked goroutine that lives as long as the server.)
func (c *cluster) startPostmaster(ctx context.Context, bin string, cred *syscall.Credential) error {
	logPath := filepath.Join(c.dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("server log: %w", err)
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd := c.command(context.Background(), bin, "postgres", cred,
		"-D", filepath.Join(c.dir, "data"),
		"-k", c.dir, "-p", strconv.Itoa(c.port), "-c", "listen_addresses=",
		// Durability is worthless for a throwaway cluster and costs most of the time.
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		// Every CREATE DATABASE writes the copy to the WAL: recycle it early so the
		// directory stays small (it may be in /dev/shm).
		"-c", "max_wal_size=128MB", "-c", "min_wal_size=32MB",
		// The suite races up to 50 goroutines, each may hold a connection.
		"-c", "max_connections=200")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the server
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		c.proc = cmd.Process
		started <- nil
		c.exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	if err := c.waitReady(ctx); err != nil {
		log, _ := os.ReadFile(logPath)
		return fmt.Errorf("%w\nserver log:\n%s", err, log)
	}
	return nil
}

// waitReady polls until the server accepts a connection, it exits, or ctx ends.
func (c *cluster) waitReady(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(c.url("postgres").String())
	if err != nil {
		return err
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.ConnectConfig(cctx, cfg)
		cancel()
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case exitErr := <-c.exited:
			c.exited <- exitErr // for stop
			return fmt.Errorf("postgres exited during startup: %v", exitErr)
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// url is the URL of a database on the cluster, through its unix socket.
func (c *cluster) url(database string) *url.URL {
	q := url.Values{"host": {c.dir}, "port": {strconv.Itoa(c.port)}, "sslmode": {"disable"}}
	return &url.URL{Scheme: "postgres", User: url.User("postgres"), Host: "", Path: "/" + database, RawQuery: q.Encode()}
}

// stop shuts the server down (fast shutdown, then kill after a grace period) and removes
// the directory.
func (c *cluster) stop() error {
	var errs []error
	if c.proc != nil {
		_ = c.proc.Signal(syscall.SIGINT) // fast shutdown: disconnect everyone, no waiting
		select {
		case <-c.exited:
		case <-time.After(30 * time.Second):
			errs = append(errs, errors.New("postgres did not stop in 30s; killed"))
			_ = c.proc.Kill()
			<-c.exited
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", c.dir, err))
	}
	return errors.Join(errs...)
}
