package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/testenv"
)

// redisProcess is a Redis server owned by one test, so the test may stop it.
type redisProcess struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func startRedis(t *testing.T, port int, dir string) *redisProcess {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if testenv.Required() {
			t.Fatalf("redis-server not installed (scripts/install-deps.sh installs it): %v", err)
		}
		t.Skip("redis-server not installed")
	}
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no", "--dir", dir)
	require.NoError(t, cmd.Start())
	r := &redisProcess{t: t, port: port, dir: dir, cmd: cmd}
	t.Cleanup(r.stop)
	require.Eventually(t, func() bool {
		return exec.Command("redis-cli", "-p", strconv.Itoa(port), "ping").Run() == nil
	}, 10*time.Second, 50*time.Millisecond)
	return r
}

func (r *redisProcess) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

func status(t *testing.T, in *harness.Instance, path, token string) int {
	req, _ := http.NewRequest(http.MethodGet, in.URL+path, nil)
	if token != "" {
		req.SetBasicAuth("token", token)
	}
	res, err := in.Client.Do(req)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// When Redis goes away /readyz answers 503 but reads keep working; when it
// returns packyard recovers by itself.
func TestRedisOutage(t *testing.T) {
	port := harness.FreePort(t)
	r := startRedis(t, port, t.TempDir())
	in := harness.Start(t, harness.Options{Env: map[string]string{"PACKYARD_REDIS_URL": fmt.Sprintf("redis://127.0.0.1:%d/0", port)}})
	tok := in.Token("acme", "read")
	require.Equal(t, http.StatusOK, status(t, in, "/api/v1/whoami", tok))

	r.stop()
	require.Eventually(t, func() bool { return status(t, in, "/readyz", "") == http.StatusServiceUnavailable }, 15*time.Second, 100*time.Millisecond)
	_, body := get(t, in, "/readyz", "")
	require.Contains(t, body, "cache")
	require.Equal(t, http.StatusOK, status(t, in, "/api/v1/whoami", tok), "losing Redis never breaks reads")

	startRedis(t, port, t.TempDir())
	require.Eventually(t, func() bool { return status(t, in, "/readyz", "") == http.StatusOK }, 20*time.Second, 200*time.Millisecond)
}

// pgCluster is a throwaway PostgreSQL owned by one test.
type pgCluster struct {
	t    *testing.T
	dir  string
	port int
}

func pgBin(name string) string { return filepath.Join("/usr/lib/postgresql/15/bin", name) }

func asPostgres(args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
	}
	return exec.Command(args[0], args[1:]...)
}

func startPG(t *testing.T) *pgCluster {
	t.Helper()
	if _, err := os.Stat(pgBin("initdb")); err != nil {
		if testenv.Required() {
			t.Fatalf("PostgreSQL 15 not installed (scripts/install-deps.sh installs it)")
		}
		t.Skip("PostgreSQL 15 not installed")
	}
	dir, err := os.MkdirTemp("", "packyard-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		require.NoError(t, err)
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		require.NoError(t, os.Chown(dir, uid, gid))
	}
	c := &pgCluster{t: t, dir: dir, port: harness.FreePort(t)}
	out, err := asPostgres(pgBin("initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync").CombinedOutput()
	require.NoError(t, err, string(out))
	c.start()
	t.Cleanup(c.stop)
	return c
}

func (c *pgCluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

func (c *pgCluster) start() {
	out, err := asPostgres(pgBin("pg_ctl"), "-D", filepath.Join(c.dir, "data"), "-l", filepath.Join(c.dir, "log"), "-w", "start",
		"-o", fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off", c.port, c.dir)).CombinedOutput()
	require.NoError(c.t, err, string(out))
}

func (c *pgCluster) stop() {
	_ = asPostgres(pgBin("pg_ctl"), "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "stop").Run()
}

// When PostgreSQL goes away requests that need it answer 503 (never 401 or
// 404), /readyz names the database, and everything recovers by itself.
func TestDatabaseOutage(t *testing.T) {
	pg := startPG(t)
	in := harness.Start(t, harness.Options{Env: map[string]string{"PACKYARD_DATABASE_URL": pg.url()}})
	tok := in.Token("acme", "read")
	require.Equal(t, http.StatusOK, status(t, in, "/api/v1/whoami", tok))

	pg.stop()
	require.Eventually(t, func() bool { return status(t, in, "/readyz", "") == http.StatusServiceUnavailable }, 15*time.Second, 100*time.Millisecond)
	_, body := get(t, in, "/readyz", "")
	require.Contains(t, body, "database")
	res, body := get(t, in, "/api/v1/whoami", tok)
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, body)

	pg.start()
	require.Eventually(t, func() bool { return status(t, in, "/readyz", "") == http.StatusOK }, 30*time.Second, 200*time.Millisecond)
	require.Equal(t, http.StatusOK, status(t, in, "/api/v1/whoami", tok))
}

// Two replicas over one PostgreSQL, MinIO and Redis: a token revoked through
// the CLI stops working on both within a second.
func TestTwoReplicas(t *testing.T) {
	shared := harness.ServiceEnv(t)
	a := harness.Start(t, harness.Options{Backend: harness.Embedded, Env: shared})
	b := harness.Start(t, harness.Options{Backend: harness.Embedded, Env: shared})
	tok := a.Token("acme", "read")
	require.Equal(t, http.StatusOK, status(t, a, "/api/v1/whoami", tok))
	require.Equal(t, http.StatusOK, status(t, b, "/api/v1/whoami", tok))
	id := tok[4:20]
	b.MustCLI("token", "revoke", id)
	for _, in := range []*harness.Instance{a, b} {
		require.Eventually(t, func() bool { return status(t, in, "/api/v1/whoami", tok) == http.StatusUnauthorized },
			time.Second, 10*time.Millisecond)
	}
}
