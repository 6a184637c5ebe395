package replicas

import (
	"cmp"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/testenv"
)

// nginx is the load balancer in front of the replicas: Debian's nginx run as
// the test's own process with a generated configuration.
type nginx struct {
	host string // 127.0.0.1:PORT
	url  string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// nginxConf is the load balancer's configuration. Round robin over the
// replicas; a replica that refuses connections or answers 502/503 is skipped
// for two seconds. Requests are passed to the next replica on a connection
// error, a timeout, 502 or 503: every GET and HEAD, and the Connect
// procedures that have no side effects (POSTs, retried explicitly), since
// those are idempotent. Other POSTs (uploads, pushes) are retried only when
// no byte reached a replica, which is nginx's rule for non-idempotent requests.
// buf speaks HTTP/1.1 (never h2c), so plain HTTP/1.1 to and from nginx
// serves both clients.
const nginxConf = `%s
worker_processes 2;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 1024; }
http {
  log_format timing '$msec $request_time $status $upstream_addr $upstream_status $upstream_response_time "$request"';
  access_log %[2]s/access.log timing;
  client_body_temp_path %[2]s/tmp/body;
  proxy_temp_path %[2]s/tmp/proxy;
  fastcgi_temp_path %[2]s/tmp/fastcgi;
  uwsgi_temp_path %[2]s/tmp/uwsgi;
  scgi_temp_path %[2]s/tmp/scgi;
  client_max_body_size 0;
  upstream packyard {
%[3]s
    keepalive 64;
  }
  server {
    listen %[4]s;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_connect_timeout 1s;
    proxy_send_timeout 60s;
    proxy_read_timeout 60s;
    proxy_next_upstream error timeout http_502 http_503;
    proxy_next_upstream_tries 3;
    proxy_next_upstream_timeout 15s;
    location / {
      proxy_pass http://packyard;
    }
    location ~ ^/buf\.registry\.[a-z0-9.]+\.[A-Za-z]+Service/(Get|List|Resolve|Download)[A-Za-z]*$ {
      proxy_pass http://packyard;
      proxy_next_upstream error timeout http_502 http_503 non_idempotent;
    }
  }
}
`

// startNginx runs nginx on 127.0.0.1:port in front of upstreams; it stops
// when the test ends.
func startNginx(t testing.TB, port int, upstreams []string) *nginx {
	t.Helper()
	bin := nginxBinary(t)
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "tmp"), 0o755))
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // the workers write temporary files under the test's private directory
	}
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "    server %s max_fails=1 fail_timeout=2s;\n", u)
	}
	n := &nginx{host: fmt.Sprintf("127.0.0.1:%d", port), dir: dir}
	n.url = "http://" + n.host
	conf := filepath.Join(dir, "nginx.conf")
	require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, nginxConf, user, dir, servers.String(), n.host), 0o644))
	n.cmd = exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := os.Create(filepath.Join(dir, "stderr.log"))
	require.NoError(t, err)
	n.cmd.Stdout, n.cmd.Stderr = out, out
	require.NoError(t, n.cmd.Start())
	n.done = make(chan struct{})
	go func() { _ = n.cmd.Wait(); out.Close(); close(n.done) }()
	t.Cleanup(func() {
		_ = n.cmd.Process.Signal(syscall.SIGQUIT) // graceful
		select {
		case <-n.done:
		case <-time.After(10 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.done
		}
		if t.Failed() {
			t.Logf("nginx error log:\n%s", harness.Tail(filepath.Join(dir, "error.log"), 30))
		}
	})
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if res, err := client.Get(n.url + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return n
			}
		}
	}
	t.Fatalf("nginx did not answer /readyz:\n%s\n%s", harness.Tail(filepath.Join(dir, "error.log"), 20), harness.Tail(filepath.Join(dir, "stderr.log"), 20))
	return nil
}

// nginxBinary is Debian's nginx (scripts/install-deps.sh installs it).
func nginxBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	if testenv.Required() {
		t.Fatal("nginx is not installed (scripts/install-deps.sh installs it)")
	}
	t.Skip("nginx is not installed")
	return ""
}

// upstreamErrors counts the errors nginx met talking to a replica (each
// request it then passed to another replica, or answered with an error):
// connections refused, and connections reset or closed under a request.
func (n *nginx) upstreamErrors() (refused, broken int) {
	b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case !strings.Contains(line, "upstream"):
		case strings.Contains(line, "Connection refused"):
			refused++
		case strings.Contains(line, "reset by peer"), strings.Contains(line, "prematurely closed"):
			broken++
		}
	}
	return refused, broken
}

// slowest returns the n slowest requests nginx served: "seconds status
// upstreams upstream-statuses upstream-times request", slowest first.
func (n *nginx) slowest(count int) []string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "access.log"))
	type row struct {
		secs float64
		line string
	}
	var rows []row
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, " ", 3)
		if len(f) < 3 {
			continue
		}
		secs, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		ms, _ := strconv.ParseFloat(f[0], 64)
		at := time.UnixMilli(int64(ms * 1000)).Format("15:04:05.000")
		rows = append(rows, row{secs, at + " " + f[1] + "s " + f[2]})
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(b.secs, a.secs) })
	var out []string
	for _, r := range rows[:min(count, len(rows))] {
		out = append(out, r.line)
	}
	return out
}
