package harness

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/packyard/packyard/pkg/testenv"
)

// Services of a test's own: a PostgreSQL cluster, a Redis server and a MinIO
// server that one test starts on free 127.0.0.1 ports in its own temporary
// directory, may stop and start again (to break packyard's dependencies on
// purpose), and stops when it ends. The shared services scripts/test.sh
// starts must never be stopped by a test.

const pgBinDir = "/usr/lib/postgresql/15/bin"

// Postgres is a throwaway PostgreSQL cluster.
type Postgres struct {
	Port int
	t    testing.TB
	dir  string
}

func asPostgres(args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
	}
	return exec.Command(args[0], args[1:]...)
}

// StartPostgres initialises and starts a cluster; it is stopped when the
// test ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pgBinDir, "initdb")); err != nil {
		if testenv.Required() {
			t.Fatalf("PostgreSQL 15 is not installed (scripts/install-deps.sh installs it)")
		}
		t.Skip("PostgreSQL 15 is not installed")
	}
	dir, err := os.MkdirTemp("", "packyard-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	p := &Postgres{t: t, dir: dir, Port: FreePort(t)}
	out, err := asPostgres(filepath.Join(pgBinDir, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync").CombinedOutput()
	if err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// URL is the cluster's postgres database.
func (p *Postgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.Port)
}

// Start starts the cluster and waits until it accepts connections.
func (p *Postgres) Start() {
	out, err := asPostgres(filepath.Join(pgBinDir, "pg_ctl"), "-D", filepath.Join(p.dir, "data"), "-l", filepath.Join(p.dir, "log"), "-w", "start",
		"-o", fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off", p.Port, p.dir)).CombinedOutput()
	if err != nil {
		p.t.Fatalf("start PostgreSQL: %v\n%s", err, out)
	}
}

// CreateRole adds a login role (without a password: the cluster trusts
// local connections) and a database it owns.
func (p *Postgres) CreateRole(role, db string) {
	p.t.Helper()
	for _, sql := range []string{"CREATE ROLE " + role + " LOGIN", "CREATE DATABASE " + db + " OWNER " + role} {
		out, err := asPostgres(filepath.Join(pgBinDir, "psql"), "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-U", "postgres",
			"-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql).CombinedOutput()
		if err != nil {
			p.t.Fatalf("psql %q: %v\n%s", sql, err, out)
		}
	}
}

// Stop stops the cluster at once (immediate mode: what a crash looks like
// to its clients).
func (p *Postgres) Stop() {
	_ = asPostgres(filepath.Join(pgBinDir, "pg_ctl"), "-D", filepath.Join(p.dir, "data"), "-m", "immediate", "stop").Run()
}

// process is a server the test runs as a child and stops by its pid.
type process struct {
	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *process) start(name string, args []string, env []string, ready func() bool) {
	p.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(p.done) }()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ready() {
			return
		}
	}
	p.t.Fatalf("%s did not become ready within 30s", name)
}

// stop kills the process and waits for it.
func (p *process) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cmd = nil
}

// Redis is a Redis server without persistence.
type Redis struct {
	Port int
	process
	dir string
}

// StartRedis starts a Redis server; it is stopped when the test ends.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	r := &Redis{Port: FreePort(t), process: process{t: t}, dir: t.TempDir()}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// URL is the server's database 0.
func (r *Redis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port) }

// CLI runs redis-cli against the server.
func (r *Redis) CLI(args ...string) error {
	return exec.Command(Tool(r.t, "redis-cli"), append([]string{"-p", strconv.Itoa(r.Port)}, args...)...).Run()
}

// Start starts the server and waits until it answers PING.
func (r *Redis) Start() {
	r.start(Tool(r.t, "redis-server"), []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(r.Port), "--save", "", "--appendonly", "no", "--dir", r.dir},
		nil, func() bool { return r.CLI("ping") == nil })
}

// Stop kills the server: everything it held is lost.
func (r *Redis) Stop() { r.stop() }

// MinIO is an S3 server.
type MinIO struct {
	Port           int
	User, Password string // its root credentials: the access and secret keys
	process
	dir string
}

// StartMinIO starts a MinIO server; it is stopped when the test ends.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	return StartMinIOAs(t, "packyard", "packyard-secret")
}

// StartMinIOAs starts a MinIO server whose root credentials are user and
// password; it is stopped when the test ends.
func StartMinIOAs(t testing.TB, user, password string) *MinIO {
	t.Helper()
	m := &MinIO{Port: FreePort(t), User: user, Password: password, process: process{t: t}, dir: t.TempDir()}
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

// Endpoint is the server's host:port.
func (m *MinIO) Endpoint() string { return fmt.Sprintf("127.0.0.1:%d", m.Port) }

// Env is the PACKYARD_S3_* configuration that selects this server.
func (m *MinIO) Env() map[string]string {
	return map[string]string{
		"PACKYARD_S3_ENDPOINT":   m.Endpoint(),
		"PACKYARD_S3_BUCKET":     "packyard",
		"PACKYARD_S3_ACCESS_KEY": m.User,
		"PACKYARD_S3_SECRET_KEY": m.Password,
		"PACKYARD_S3_USE_TLS":    "false",
	}
}

// Start starts the server (on the same data as before) and waits until it
// is ready.
func (m *MinIO) Start() {
	ready := "http://" + m.Endpoint() + "/minio/health/ready"
	m.start(Tool(m.t, "minio"), []string{"server", m.dir, "--quiet", "--address", m.Endpoint(),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", FreePort(m.t))},
		[]string{"MINIO_ROOT_USER=" + m.User, "MINIO_ROOT_PASSWORD=" + m.Password, "MINIO_BROWSER=off"},
		func() bool {
			res, err := http.Get(ready)
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == http.StatusOK
		})
}

// Stop kills the server.
func (m *MinIO) Stop() { m.stop() }
