// Package harness is the shared test harness for packyard: it runs the real
// daemon for end-to-end tests (the binary, built once, on a free 127.0.0.1
// port, with the embedded defaults or PostgreSQL + MinIO + Redis, optionally
// over TLS with a throwaway CA, with its admin CLI), builds the same kernel
// in-process for package tests (NewKernel, from cmd/packyard/kernel's fx
// options and an environment map, with the test's ecosystem registered on
// it), and drives the real clients against either: composer (Composer),
// buf (Buf) and git repositories to serve from (GitRepo).
//
// It imports no ecosystem: the ecosystems' own tests use it.
package harness

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/packyard/packyard/pkg/testenv"
)

// Backend selects the storage drivers.
type Backend string

const (
	// Embedded is SQLite + filesystem + in-memory cache under one data directory.
	Embedded Backend = "embedded"
	// Services is PostgreSQL + MinIO (S3) + Redis, the several-replica layout.
	Services Backend = "services"
)

// Backends are both layouts, for table-driven end-to-end tests.
var Backends = []Backend{Embedded, Services}

// Options configure an instance.
type Options struct {
	Backend Backend
	TLS     bool              // serve HTTPS with a throwaway CA (Instance.CAFile)
	Env     map[string]string // extra PACKYARD_* variables
}

// Instance is a running packyard.
type Instance struct {
	URL     string // http(s)://127.0.0.1:PORT
	Host    string // 127.0.0.1:PORT
	DataDir string
	CAFile  string // PEM of the CA that signed the server certificate (TLS only)
	Env     []string
	Client  *http.Client // trusts CAFile when TLS is on

	t       testing.TB
	opts    Options
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/packyard once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = err
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		dir, err := os.MkdirTemp("", "packyard-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "packyard")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/packyard")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/packyard: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build packyard: %v", buildErr)
	}
	return binPath
}

// FreePort returns a TCP port free on 127.0.0.1 right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ServiceEnv returns the PACKYARD_* variables that select PostgreSQL (a fresh
// database), MinIO (a fresh bucket) and Redis (a fresh key prefix).
func ServiceEnv(t testing.TB) map[string]string {
	s3 := testenv.S3Server(t)
	return map[string]string{
		"PACKYARD_DATABASE_URL":  testenv.PostgresURL(t),
		"PACKYARD_S3_ENDPOINT":   s3.Endpoint,
		"PACKYARD_S3_BUCKET":     s3.Bucket,
		"PACKYARD_S3_ACCESS_KEY": s3.AccessKey,
		"PACKYARD_S3_SECRET_KEY": s3.SecretKey,
		"PACKYARD_S3_REGION":     s3.Region,
		"PACKYARD_S3_USE_TLS":    "false",
		"PACKYARD_REDIS_URL":     testenv.RedisURL(t),
		"PACKYARD_REDIS_PREFIX":  testenv.RandomName("e2e") + ":",
	}
}

// TestSecretKey is PACKYARD_SECRET_KEY for every packyard a test runs.
const TestSecretKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// daemonEnv is the configuration of a test packyard: base, the test secret
// key, a garbage collection that stays out of the way, the services for
// Services, a throwaway certificate for TLS (its CA returned), and o.Env
// last, so a test may override any of it.
func daemonEnv(t testing.TB, dir string, base map[string]string, o Options) (env map[string]string, caFile string) {
	t.Helper()
	env = map[string]string{
		"PACKYARD_SECRET_KEY":  TestSecretKey,
		"PACKYARD_GC_INTERVAL": "1h",
	}
	for k, v := range base {
		env[k] = v
	}
	if o.Backend == Services {
		for k, v := range ServiceEnv(t) {
			env[k] = v
		}
	}
	if o.TLS {
		var cert, key string
		caFile, cert, key = WriteTLSFiles(t, dir)
		env["PACKYARD_TLS_CERT_FILE"], env["PACKYARD_TLS_KEY_FILE"] = cert, key
	}
	for k, v := range o.Env {
		env[k] = v
	}
	return env, caFile
}

// httpClient trusts caFile when it is set.
func httpClient(t testing.TB, caFile string) *http.Client {
	t.Helper()
	c := &http.Client{Timeout: 60 * time.Second}
	if caFile == "" {
		return c
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("read CA: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	return c
}

func scheme(caFile string) string {
	if caFile != "" {
		return "https"
	}
	return "http"
}

// Start starts packyard and waits until /readyz answers 200. It stops when
// the test ends.
func Start(t testing.TB, opts Options) *Instance {
	t.Helper()
	Binary(t)
	if opts.Backend == "" {
		opts.Backend = Embedded
	}
	dir := t.TempDir()
	port := FreePort(t)
	in := &Instance{t: t, opts: opts, DataDir: filepath.Join(dir, "data"), Host: fmt.Sprintf("127.0.0.1:%d", port),
		logPath: filepath.Join(dir, "packyard.log")}
	env, caFile := daemonEnv(t, dir, map[string]string{
		"PACKYARD_HTTP_ADDR":  in.Host,
		"PACKYARD_DATA_DIR":   in.DataDir,
		"PACKYARD_LOG_FORMAT": "json",
		"PACKYARD_LOG_LEVEL":  "info",
	}, opts)
	in.CAFile, in.Client = caFile, httpClient(t, caFile)
	in.URL = scheme(caFile) + "://" + in.Host
	in.Env = os.Environ()
	for k, v := range env {
		in.Env = append(in.Env, k+"="+v)
	}
	in.start()
	t.Cleanup(func() {
		in.Stop()
		if t.Failed() {
			t.Logf("packyard log (%s):\n%s", in.logPath, tail(in.logPath, 60))
		}
	})
	return in
}

func (in *Instance) start() {
	t := in.t
	t.Helper()
	logf, err := os.OpenFile(in.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("log file: %v", err)
	}
	cmd := exec.Command(Binary(t), "serve")
	cmd.Env = in.Env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start packyard: %v", err)
	}
	in.cmd = cmd
	in.done = make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(in.done) }()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-in.done:
			t.Fatalf("packyard exited during start-up:\n%s", tail(in.logPath, 40))
		default:
		}
		res, err := in.Client.Get(in.URL + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("packyard not ready after 90s:\n%s", tail(in.logPath, 40))
}

// Stop sends SIGTERM and waits for a clean exit.
func (in *Instance) Stop() {
	if in.cmd == nil || in.cmd.Process == nil {
		return
	}
	select {
	case <-in.done:
		in.cmd = nil
		return
	default:
	}
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
	case <-time.After(40 * time.Second):
		_ = in.cmd.Process.Kill()
		<-in.done
		in.t.Errorf("packyard did not stop within 40s of SIGTERM")
	}
	if code := in.cmd.ProcessState.ExitCode(); code != 0 {
		in.t.Errorf("packyard exited with status %d after SIGTERM:\n%s", code, tail(in.logPath, 30))
	}
	in.cmd = nil
}

// Kill ends the daemon with SIGKILL, as a crash would, and waits until it
// is gone; Resume starts it again.
func (in *Instance) Kill() {
	in.t.Helper()
	if in.cmd == nil || in.cmd.Process == nil {
		return
	}
	_ = in.cmd.Process.Signal(syscall.SIGKILL)
	<-in.done
	in.cmd = nil
}

// Resume starts the instance again after Kill or Stop (same data, same
// port), with env (PACKYARD_* name → value) added to its configuration,
// and waits until /readyz answers 200.
func (in *Instance) Resume(env map[string]string) {
	in.t.Helper()
	for k, v := range env {
		in.Env = append(in.Env, k+"="+v) // the last value of a name wins
	}
	in.start()
}

// Restart stops and starts the same instance (same data, same port).
func (in *Instance) Restart() {
	in.t.Helper()
	in.Stop()
	in.start()
}

// Log returns the daemon's log so far.
func (in *Instance) Log() string {
	b, _ := os.ReadFile(in.logPath)
	return string(b)
}

// CLI runs `packyard ARGS...` with the instance's configuration.
func (in *Instance) CLI(args ...string) (stdout, stderr string, err error) {
	return runCLI(in.t, in.Env, args...)
}

// runCLI runs the binary with env.
func runCLI(t testing.TB, env []string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// MustCLI runs the CLI and fails the test unless it succeeds; it returns
// stdout without the trailing newline.
func (in *Instance) MustCLI(args ...string) string {
	in.t.Helper()
	o, e, err := in.CLI(args...)
	if err != nil {
		in.t.Fatalf("packyard %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, o, e)
	}
	return strings.TrimRight(o, "\n")
}

// Token creates an organization if needed and returns a token of scope for it.
func (in *Instance) Token(org, scope string) string {
	in.t.Helper()
	if _, e, err := in.CLI("org", "create", org); err != nil && !strings.Contains(e, "already exists") {
		in.t.Fatalf("org create %s: %v: %s", org, err, e)
	}
	return in.MustCLI("token", "create", "--org", org, "--scope", scope)
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
