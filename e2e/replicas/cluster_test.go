package replicas

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

// replica is one packyard process of the cluster: its own port and data
// directory, the cluster's database, blob store and cache.
type replica struct {
	name string
	host string // 127.0.0.1:PORT
	url  string // http://host
	env  []string
	log  string

	mu   sync.Mutex
	bin  string
	cmd  *exec.Cmd
	done chan struct{}
}

// cluster is three replicas over one PostgreSQL, MinIO and Redis behind nginx.
type cluster struct {
	t        testing.TB
	replicas []*replica
	lb       *nginx
	env      []string // the shared configuration, for the CLI
	dbURL    string
	client   *http.Client
}

// newCluster starts n replicas of bin over fresh service databases and nginx
// in front of them (upstreams: the first lbReplicas replicas), with extra
// PACKYARD_* variables.
func newCluster(t testing.TB, bin string, n, lbReplicas int, extra map[string]string) *cluster {
	t.Helper()
	dir := t.TempDir()
	svc := harness.ServiceEnv(t)
	lbPort := harness.FreePort(t)
	shared := map[string]string{
		"PACKYARD_SECRET_KEY":  harness.TestSecretKey,
		"PACKYARD_GC_INTERVAL": "1h",
		"PACKYARD_BASE_URL":    fmt.Sprintf("http://127.0.0.1:%d", lbPort),
		"PACKYARD_LOG_FORMAT":  "json",
		"PACKYARD_LOG_LEVEL":   "info",
	}
	for k, v := range svc {
		shared[k] = v
	}
	for k, v := range extra {
		shared[k] = v
	}
	c := &cluster{t: t, dbURL: svc["PACKYARD_DATABASE_URL"], client: &http.Client{Timeout: 10 * time.Second}}
	c.env = os.Environ()
	for k, v := range shared {
		c.env = append(c.env, k+"="+v)
	}
	for i := range n {
		name := fmt.Sprintf("r%d", i+1)
		host := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
		r := &replica{name: name, host: host, url: "http://" + host, bin: bin, log: filepath.Join(dir, name+".log")}
		r.env = append(append([]string{}, c.env...), "PACKYARD_HTTP_ADDR="+host,
			"PACKYARD_DATA_DIR="+filepath.Join(dir, name+"-data"))
		c.replicas = append(c.replicas, r)
	}
	// The first start migrates; the others start together once it has.
	c.replicas[0].start(t, bin)
	var wg sync.WaitGroup
	for _, r := range c.replicas[1:] {
		wg.Go(func() { r.start(t, bin) })
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, r := range c.replicas {
			r.kill()
			if t.Failed() {
				t.Logf("%s log:\n%s", r.name, harness.Tail(r.log, 25))
			}
		}
	})
	var ups []string
	for _, r := range c.replicas[:lbReplicas] {
		ups = append(ups, r.host)
	}
	c.lb = startNginx(t, lbPort, ups)
	return c
}

// cli runs the packyard CLI against the cluster's database.
func (c *cluster) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Binary(c.t), args...)
	cmd.Env = c.env
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		err = fmt.Errorf("%w: %s", err, ee.Stderr)
	}
	return strings.TrimSpace(string(out)), err
}

func (c *cluster) mustCLI(args ...string) string {
	c.t.Helper()
	out, err := c.cli(args...)
	require.NoError(c.t, err, "packyard %s", strings.Join(args, " "))
	return out
}

// dbVersion is the database's applied migration version.
func (c *cluster) dbVersion() int64 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.dbURL)
	require.NoError(c.t, err)
	defer conn.Close(ctx)
	var v int64
	require.NoError(c.t, conn.QueryRow(ctx, `SELECT max(version_id) FROM goose_db_version WHERE is_applied`).Scan(&v))
	return v
}

// start runs bin and waits until /readyz answers 200.
func (r *replica) start(t testing.TB, bin string) {
	t.Helper()
	logf, err := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	cmd := exec.Command(bin, "serve")
	cmd.Env = r.env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	r.mu.Lock()
	r.bin, r.cmd, r.done = bin, cmd, done
	r.mu.Unlock()
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-done:
			t.Errorf("%s exited during start-up:\n%s", r.name, harness.Tail(r.log, 30))
			return
		default:
		}
		if res, err := client.Get(r.url + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Errorf("%s not ready after 90s:\n%s", r.name, harness.Tail(r.log, 30))
}

// signal sends sig and waits for the process to end (SIGKILL after 40s).
func (r *replica) signal(sig syscall.Signal) {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (r *replica) kill() { r.signal(syscall.SIGKILL) }
func (r *replica) stop() { r.signal(syscall.SIGTERM) }

// buildUpgradeBinary builds cmd/packyard with the packyard_test_upgrade tag:
// the same daemon carrying one extra migration (migrations/upgradetest.go).
func buildUpgradeBinary(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "packyard-upgrade")
	cmd := exec.Command("go", "build", "-tags", "packyard_test_upgrade", "-o", bin, "./cmd/packyard")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build -tags packyard_test_upgrade: %s", b)
	return bin
}
