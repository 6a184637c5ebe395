// Package replicas runs three packyard replicas (the real binary, each its
// own process and port) over one PostgreSQL, MinIO and Redis behind nginx on
// loopback, and checks that they behave as one: the real composer and buf
// keep working while a replica is killed and while all three are upgraded,
// one after another, to a binary whose start applies a migration; and a
// write through one replica is served by every replica within a second.
package replicas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/migrations"
)

// propagation is the longest a write through one replica may take to be
// served by every replica.
const propagation = time.Second

var commitRE = regexp.MustCompile(`[0-9a-f]{32}`)

const utilPHP = `<?php
namespace Acme\Util;
final class Greeter { public static function hello(): string { return "hello"; } }
`

// TestThreeReplicas: composer update, buf dep update and buf build through
// nginx keep succeeding while one replica is killed with SIGKILL and
// restarted, and while the three are restarted one after another on a binary
// that carries one more migration (the first to start applies it; the two
// older replicas keep serving reads and writes on the migrated schema).
//
// What is allowed to fail: nothing for composer and buf reads (nginx passes
// a request that found a dead replica to another one). A push (a POST that
// nginx does not resend once a replica has received it) may fail when its
// replica dies under it; the client loop then pushes again, as a CI job
// would, and every push must succeed within five attempts.
func TestThreeReplicas(t *testing.T) {
	bin := harness.Binary(t)
	upgrade := buildUpgradeBinary(t)
	c := newCluster(t, bin, 3, 3, nil)
	write, read := seed(t, c)

	cl := startClients(t, c.lb.host, read, write)
	stopped := false
	defer func() {
		if !stopped {
			cl.finish()
		}
	}()
	waitProgress(t, cl, 1)

	// (a) One replica killed and restarted while the clients run.
	logf(t, "kill -9 r2")
	victim := c.replicas[1]
	victim.kill()
	waitProgress(t, cl, cl.progress()+1)
	victim.start(t, bin)
	logf(t, "r2 restarted")
	waitProgress(t, cl, cl.progress()+1)
	refused, _ := c.lb.upstreamErrors()
	require.Positive(t, refused, "nginx met the killed replica (and passed its requests on)")

	// (b) Rolling upgrade: each replica stopped and started on the new binary.
	before := c.dbVersion()
	for i, r := range c.replicas {
		logf(t, "upgrade %s: stop", r.name)
		r.stop()
		r.start(t, upgrade)
		logf(t, "upgrade %s: ready on the new binary", r.name)
		if i == 0 {
			require.Equal(t, int64(migrations.UpgradeTestVersion), c.dbVersion(), "the first upgraded replica migrated (from %d)", before)
			oldReplicasServe(t, c, c.replicas[1:], write, read)
		}
		waitProgress(t, cl, cl.progress()+1)
	}
	sums := cl.finish()
	stopped = true
	report(t, cl, sums)
	refused, broken := c.lb.upstreamErrors()
	t.Logf("nginx met %d refused connections and %d broken ones to replicas (requests passed on or answered 502)", refused, broken)
	t.Log("the slowest requests through nginx (time, seconds, status, replicas tried, their statuses and times, request):")
	for _, l := range c.lb.slowest(5) {
		t.Log("  " + l)
	}

	// Every write through one replica is served by all within a second.
	visibility(t, c, write, read)
}

// seed creates the organization, its tokens, two Composer packages and a
// buf module through the load balancer.
func seed(t testing.TB, c *cluster) (write, read string) {
	t.Helper()
	c.mustCLI("org", "create", "acme")
	write = c.mustCLI("token", "create", "--org", "acme", "--scope", "write")
	read = c.mustCLI("token", "create", "--org", "acme", "--scope", "read")
	upload(t, c.lb.url, write, "1.0.0", map[string]string{
		"composer.json":   `{"name": "acme/util", "autoload": {"psr-4": {"Acme\\Util\\": "src/"}}}`,
		"src/Greeter.php": utilPHP,
	})
	upload(t, c.lb.url, write, "1.0.0", map[string]string{
		"composer.json": `{"name": "acme/app", "require": {"acme/util": "^1.0"}}`,
	})
	b := harness.Buf(t, c.lb.host, "")
	b.Token = write
	b.Run(b.Workspace(map[string]string{
		"buf.yaml":           "version: v1\nname: HOST/acme/base\n",
		"base/v1/base.proto": "syntax = \"proto3\";\npackage base.v1;\nmessage Id { string value = 1; }\n",
	}), "push", "--create")
	return write, read
}

// upload publishes a zip of files as version through baseURL.
func upload(t testing.TB, baseURL, token, version string, files map[string]string) {
	t.Helper()
	zip, err := os.ReadFile(harness.ZipPackage(t, files))
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPut, baseURL+"/composer/acme/upload?version="+version, bytes.NewReader(zip))
	require.NoError(t, err)
	req.SetBasicAuth("token", token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusCreated, res.StatusCode, "upload %s: %s", version, body)
}

// oldReplicasServe: replicas still on the old binary serve reads and writes
// on the schema the new binary migrated.
func oldReplicasServe(t *testing.T, c *cluster, old []*replica, write, read string) {
	t.Helper()
	for i, r := range old {
		status, body := get(t, r.url+"/composer/acme/p2/acme/util.json", read)
		require.Equal(t, http.StatusOK, status, "%s (old binary) serves p2: %s", r.name, body)
		var labels labelsResponse
		require.Equal(t, http.StatusOK, connectCall(t, r.url, "buf.registry.module.v1.LabelService/GetLabels", read,
			labelRefs("acme", "base", "main"), &labels), "%s (old binary) serves buf", r.name)
		version := fmt.Sprintf("1.1.%d", i)
		upload(t, r.url, write, version, map[string]string{"composer.json": `{"name": "acme/during-upgrade"}`})
		require.Eventually(t, func() bool {
			status, body := get(t, c.replicas[0].url+"/composer/acme/p2/acme/during-upgrade.json", read)
			return status == http.StatusOK && strings.Contains(body, `"`+version+`"`)
		}, propagation, 5*time.Millisecond, "a write through %s (old binary) is served by the new one within %s", r.name, propagation)
	}
}

// logf logs msg with the wall-clock time, to line it up with the clients' operations.
func logf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("%s "+format, append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

func waitProgress(t *testing.T, cl *clients, n int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for cl.progress() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the clients made no progress for 90s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// report logs what each client saw and checks it against what is allowed.
func report(t *testing.T, cl *clients, sums []summary) {
	t.Helper()
	t.Log("what the clients saw through nginx:")
	for _, s := range sums {
		t.Log("  " + s.String())
		for _, f := range s.failures {
			t.Logf("    failed: %s", f)
		}
	}
	for _, s := range sums[:3] {
		require.Zero(t, s.failed, "%s failed through the load balancer", s.name)
		require.Positive(t, s.attempted)
	}
	require.Zero(t, cl.pushesLost.Load(), "a push failed five times in a row")
}

// get answers GET url with a token ("" for none).
func get(t testing.TB, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.SetBasicAuth("token", token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error() // a replica that is down answers nothing
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// connectCall makes a Connect unary call in JSON and decodes the answer into out.
func connectCall(t testing.TB, baseURL, procedure, token string, in, out any) int {
	t.Helper()
	b, err := json.Marshal(in)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, baseURL+"/"+procedure, bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.SetBasicAuth("token", token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK && out != nil && json.Unmarshal(body, out) != nil {
		return 0
	}
	return res.StatusCode
}

type labelsResponse struct {
	Labels []struct {
		CommitID string `json:"commitId"`
	} `json:"labels"`
}

func (l labelsResponse) commit() string {
	if len(l.Labels) != 1 {
		return ""
	}
	return strings.ReplaceAll(l.Labels[0].CommitID, "-", "")
}

func labelRefs(owner, module, label string) map[string]any {
	return map[string]any{"labelRefs": []any{map[string]any{"name": map[string]string{"owner": owner, "module": module, "label": label}}}}
}

// visible waits until check holds on every replica, polling each every few
// milliseconds from the moment the write returned, and returns how long each
// took; it fails the test when one took longer than propagation.
func visible(t *testing.T, c *cluster, what string, check func(r *replica) bool) []time.Duration {
	t.Helper()
	start := time.Now()
	out := make([]time.Duration, len(c.replicas))
	var wg sync.WaitGroup
	for i, r := range c.replicas {
		wg.Go(func() {
			for !check(r) {
				if time.Since(start) > 5*time.Second {
					out[i] = -1
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			out[i] = time.Since(start)
		})
	}
	wg.Wait()
	for i, d := range out {
		if d < 0 || d > propagation {
			t.Errorf("%s: not served by %s within %s (took %v)", what, c.replicas[i].name, propagation, d)
		}
	}
	return out
}

// visibility writes through one replica (or the CLI) and measures when every
// replica, addressed directly, serves the write.
func visibility(t *testing.T, c *cluster, write, read string) {
	r1, r2, r3 := c.replicas[0], c.replicas[1], c.replicas[2]
	times := map[string][]time.Duration{}
	var order []string
	measure := func(what string, check func(r *replica) bool) {
		order = append(order, what)
		times[what] = visible(t, c, what, check)
	}
	served := func(path, token, want string) func(r *replica) bool {
		return func(r *replica) bool {
			status, body := get(t, r.url+path, token)
			return status == http.StatusOK && strings.Contains(body, want)
		}
	}
	status := func(path, token string, want int) func(r *replica) bool {
		return func(r *replica) bool {
			s, _ := get(t, r.url+path, token)
			return s == want
		}
	}

	// Composer upload through r1.
	upload(t, r1.url, write, "2.0.0", map[string]string{"composer.json": `{"name": "acme/vis"}`})
	measure("composer upload", served("/composer/acme/p2/acme/vis.json", read, `"2.0.0"`))

	// buf push through r2 (the CLI addressing r2 itself).
	b := harness.Buf(t, r2.host, "")
	b.Token = write
	files := map[string]string{"buf.yaml": "version: v1\nname: HOST/acme/vis\n",
		"vis/v1/vis.proto": "syntax = \"proto3\";\npackage vis.v1;\nmessage V { string id = 1; }\n"}
	first := commitRE.FindString(b.Run(b.Workspace(files), "push", "--create"))
	require.NotEmpty(t, first)
	label := func(name, want string) func(r *replica) bool {
		return func(r *replica) bool {
			var l labelsResponse
			return connectCall(t, r.url, "buf.registry.module.v1.LabelService/GetLabels", read, labelRefs("acme", "vis", name), &l) == http.StatusOK &&
				l.commit() == want
		}
	}
	measure("buf push", label("main", first))
	files["vis/v1/vis.proto"] += "message W { string id = 1; }\n"
	second := commitRE.FindString(b.Run(b.Workspace(files), "push"))
	require.NotEmpty(t, second)
	measure("buf push (2nd)", label("main", second))

	// Label moves through r3: created on the first commit, moved to the second.
	move := func(commit string) {
		req := map[string]any{"values": []any{map[string]any{
			"labelRef": map[string]any{"name": map[string]string{"owner": "acme", "module": "vis", "label": "stable"}},
			"commitId": commit}}}
		require.Equal(t, http.StatusOK, connectCall(t, r3.url, "buf.registry.module.v1.LabelService/CreateOrUpdateLabels", write, req, nil))
	}
	move(first)
	measure("label create", label("stable", first))
	move(second)
	measure("label move", label("stable", second))

	// Tokens: one created and then revoked with the CLI.
	tok := c.mustCLI("token", "create", "--org", "acme", "--scope", "read")
	measure("CLI token create", status("/composer/acme/packages.json", tok, http.StatusOK))
	c.mustCLI("token", "revoke", strings.Split(tok, "_")[1])
	measure("CLI token revoke", status("/composer/acme/packages.json", tok, http.StatusUnauthorized))

	// Organization visibility: made public through r1 (buf's organization
	// API), private again with the CLI; anonymous reads follow.
	c.mustCLI("org", "create", "visorg")
	admin := c.mustCLI("token", "create", "--org", "visorg", "--scope", "admin")
	require.Equal(t, http.StatusOK, connectCall(t, r1.url, "buf.registry.owner.v1.OrganizationService/UpdateOrganizations", admin,
		map[string]any{"values": []any{map[string]any{"organizationRef": map[string]string{"name": "visorg"},
			"visibility": "ORGANIZATION_VISIBILITY_PUBLIC"}}}, nil))
	measure("org made public", status("/composer/visorg/packages.json", "", http.StatusOK))
	c.mustCLI("org", "set-private", "visorg")
	measure("CLI org private", status("/composer/visorg/packages.json", "", http.StatusUnauthorized))

	// A Composer upload with the CLI.
	c.mustCLI("composer", "upload", "--org", "acme", "--file",
		harness.ZipPackage(t, map[string]string{"composer.json": `{"name": "acme/vis"}`}), "--version", "2.1.0")
	measure("CLI upload", served("/composer/acme/p2/acme/vis.json", read, `"2.1.0"`))

	t.Log("time until every replica serves a write (r1, r2, r3):")
	var all []time.Duration
	for _, what := range order {
		ds := times[what]
		all = append(all, ds...)
		t.Logf("  %-18s %v", what, ds)
	}
	slices.Sort(all)
	t.Logf("  all: median %v, max %v (%d observations)", all[len(all)/2], all[len(all)-1], len(all))
}
