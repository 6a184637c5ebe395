// Package crash kills the packyard daemon with SIGKILL while Composer
// uploads and buf pushes are in flight, restarts it, and proves that every
// acknowledged write is present and intact, that nothing is half-visible,
// and that a garbage collection afterwards removes only orphans; on SQLite
// + filesystem and on PostgreSQL + MinIO + Redis.
package crash

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

var seedFlag = flag.Uint64("crash.seed", 0, "seed of the kill schedule and the load (0: a new one, logged)")

const (
	org           = "acme"
	uploadCount   = 100
	pushCount     = 50
	realPushCount = 3
	killCount     = 4
)

// record is what a client saw, shared by the load's goroutines.
type record struct {
	mu        sync.Mutex
	attempts  int
	failures  int // attempts without a 2xx / OK
	successes []time.Time
	rejected  []string // answers that are neither success nor a crash's
}

func (r *record) attempt(ok bool, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	if ok {
		r.successes = append(r.successes, at)
	} else {
		r.failures++
	}
}

func (r *record) reject(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejected = append(r.rejected, s)
}

// longestGap is the longest time without any successful write between the
// first and the last.
func (r *record) longestGap() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := append([]time.Time(nil), r.successes...)
	sort.Slice(s, func(i, j int) bool { return s[i].Before(s[j]) })
	var gap time.Duration
	for i := 1; i < len(s); i++ {
		gap = max(gap, s[i].Sub(s[i-1]))
	}
	return gap
}

// retry runs attempt until it succeeds, gives up (retry false) or the
// deadline passes.
func retry(ctx context.Context, rng *rand.Rand, attempt func() (done bool)) {
	for ctx.Err() == nil {
		if attempt() {
			return
		}
		time.Sleep(time.Duration(50+rngInt(rng, 150)) * time.Millisecond)
	}
}

var rngMu sync.Mutex

func rngInt(rng *rand.Rand, n int) int {
	rngMu.Lock()
	defer rngMu.Unlock()
	return rng.IntN(n)
}

// load is the state of one run: the writes, what was acknowledged, and what
// the clients saw.
type load struct {
	in      *harness.Instance
	hc      *http.Client
	write   string
	uploads []upload
	pushes  []push

	mu          sync.Mutex
	acked       map[int]bool   // uploads answered 2xx
	unacked     map[int]bool   // uploads stored although no answer said so (a retry got 409)
	commits     map[int][]byte // pushes answered OK: B5 by push
	commitIDs   map[int]string
	realCommits map[int]string // real buf pushes: commit id by index
	rec         record
}

func (l *load) runUpload(ctx context.Context, rng *rand.Rand, i int) {
	first := true
	retry(ctx, rng, func() bool {
		status, _, body := sendUpload(ctx, l.hc, l.in.URL, org, l.write, l.uploads[i])
		l.rec.attempt(status/100 == 2, time.Now())
		retried := !first
		first = false
		l.mu.Lock()
		defer l.mu.Unlock()
		switch {
		case status/100 == 2:
			l.acked[i] = true
			return true
		case status == http.StatusConflict && retried:
			// An earlier attempt was stored but its answer was lost in a crash.
			l.unacked[i] = true
			return true
		case status == 0 || status == http.StatusServiceUnavailable:
			return false
		}
		l.rec.reject(fmt.Sprintf("upload %d: %d %s", i, status, body))
		return true
	})
}

func (l *load) runPush(ctx context.Context, rng *rand.Rand, c bufClients, j int) {
	retry(ctx, rng, func() bool {
		commit, err := c.send(ctx, l.pushes[j])
		l.rec.attempt(err == nil, time.Now())
		if err == nil {
			l.mu.Lock()
			l.commits[j], l.commitIDs[j] = commit.GetDigest().GetValue(), commit.GetId()
			l.mu.Unlock()
			return true
		}
		switch connect.CodeOf(err) {
		case connect.CodeUnavailable, connect.CodeUnknown, connect.CodeDeadlineExceeded, connect.CodeCanceled:
			return false
		}
		var ce *connect.Error
		if !errors.As(err, &ce) { // no Connect answer at all: the daemon is down
			return false
		}
		l.rec.reject(fmt.Sprintf("push %d: %v", j, err))
		return true
	})
}

var bufCommitRE = regexp.MustCompile(`[0-9a-f]{32}`)

// realWorkspace is the directory of real buf module k.
func realWorkspace(c *harness.BufClient, k int) string {
	return c.Workspace(map[string]string{
		"buf.yaml": fmt.Sprintf("version: v1\nname: HOST/%s/real%d\n", org, k),
		fmt.Sprintf("real%d/v1/real%d.proto", k, k): fmt.Sprintf("syntax = \"proto3\";\npackage real%d.v1;\nmessage Real%d { string id = 1; }\n", k, k),
	})
}

func (l *load) runRealPushes(ctx context.Context, rng *rand.Rand, c *harness.BufClient, dirs []string) {
	for k, dir := range dirs {
		retry(ctx, rng, func() bool {
			cmd := c.Command(ctx, dir, "push", "--create")
			out, err := cmd.CombinedOutput()
			l.rec.attempt(err == nil, time.Now())
			if err != nil {
				return false
			}
			l.mu.Lock()
			l.realCommits[k] = bufCommitRE.FindString(string(out))
			l.mu.Unlock()
			return true
		})
	}
}

func seed(t *testing.T) uint64 {
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -crash.seed=%d)", s, s)
	return s
}

func TestKill9(t *testing.T) {
	for _, backend := range harness.Backends {
		t.Run(string(backend), func(t *testing.T) { runKill9(t, backend) })
	}
}

func runKill9(t *testing.T, backend harness.Backend) {
	start := time.Now()
	s := seed(t)
	rng := rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
	in := harness.Start(t, harness.Options{Backend: backend})
	l := &load{in: in, hc: &http.Client{Timeout: 40 * time.Second}, write: in.Token(org, "write"),
		acked: map[int]bool{}, unacked: map[int]bool{}, commits: map[int][]byte{}, commitIDs: map[int]string{}, realCommits: map[int]string{}}
	read := in.MustCLI("token", "create", "--org", org, "--scope", "read")
	ctx := context.Background()
	bc := newBufClients(l.hc, in.URL, l.write)
	require.NoError(t, bc.createModule(ctx, org, "base"))
	for m := range 5 {
		require.NoError(t, bc.createModule(ctx, org, fmt.Sprintf("mod%d", m)))
	}
	base, err := bc.send(ctx, push{owner: org, module: "base", files: map[string]string{"base/v1/base.proto": baseProto}, labels: []string{"main"}})
	require.NoError(t, err)
	l.uploads = composerUploads(org, uploadCount, rng)
	l.pushes = bufPushes(org, pushCount, base.GetId(), base.GetDigest().GetValue())
	realBuf := harness.Buf(t, in.Host, "")
	realBuf.Token = l.write
	var realDirs []string
	for k := range realPushCount {
		realDirs = append(realDirs, realWorkspace(realBuf, k))
	}

	// The load: 12 workers for uploads and pushes, one real buf client.
	loadStart := time.Now()
	loadCtx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	work := make(chan func(), uploadCount+pushCount)
	for i := range l.uploads {
		work <- func() { l.runUpload(loadCtx, rng, i) }
	}
	for j := range l.pushes {
		work <- func() { l.runPush(loadCtx, rng, bc, j) }
	}
	close(work)
	for range 12 {
		wg.Go(func() {
			for f := range work {
				f()
			}
		})
	}
	wg.Go(func() { l.runRealPushes(loadCtx, rng, realBuf, realDirs) })
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	// The crashes: SIGKILL at random moments, each followed by a restart.
	kills, killsUnderLoad := 0, 0
	for kills < killCount {
		time.Sleep(time.Duration(150+rngInt(rng, 900)) * time.Millisecond)
		select {
		case <-done:
		default:
			killsUnderLoad++
		}
		in.Kill()
		kills++
		in.Resume(nil)
	}
	select {
	case <-done:
	case <-time.After(120 * time.Second):
		t.Fatalf("the load did not finish within 120s of the last restart")
	}
	require.Empty(t, l.rec.rejected, "answers other than success or a crash's")
	t.Logf("client saw: %d kills (%d under load); %d write attempts, %d succeeded, %d failed; longest time without a successful write %s",
		kills, killsUnderLoad, l.rec.attempts, len(l.rec.successes), l.rec.failures, l.rec.longestGap().Round(time.Millisecond))
	t.Logf("acknowledged: %d/%d uploads (%d more stored with their answer lost), %d/%d raw pushes, %d/%d buf CLI pushes",
		len(l.acked), uploadCount, len(l.unacked), len(l.commits), pushCount, len(l.realCommits), realPushCount)
	require.Positive(t, killsUnderLoad, "at least one kill must hit the load")

	phase := time.Now()
	st := openStores(t, in.Env)
	l.verify(t, read, bc)
	st.checkInvariants(t)
	t.Logf("load and crashes %s; API checks and invariants %s", phase.Sub(loadStart).Round(time.Millisecond), time.Since(phase).Round(time.Millisecond))
	phase = time.Now()
	l.verifyWithClients(t, read, realBuf, base.GetId())
	t.Logf("composer install and buf dep update/build %s", time.Since(phase).Round(time.Millisecond))
	phase = time.Now()
	l.collect(t, st, read, bc)
	t.Logf("GC and checks again %s; whole run %s (start-up and set-up %s)", time.Since(phase).Round(time.Millisecond),
		time.Since(start).Round(time.Second), loadStart.Sub(start).Round(time.Millisecond))
}

// verify checks every acknowledged write over the HTTP and Connect APIs,
// and every stored version whether acknowledged or not.
func (l *load) verify(t *testing.T, read string, bc bufClients) {
	t.Helper()
	ctx := context.Background()
	byPkg := map[string]map[string]p2Version{}
	for i, u := range l.uploads {
		if byPkg[u.pkg] == nil {
			vs, status, err := p2Versions(ctx, l.hc, l.in.URL, org, read, u.pkg)
			require.NoError(t, err)
			require.Contains(t, []int{http.StatusOK, http.StatusNotFound}, status, u.pkg)
			byPkg[u.pkg] = vs
		}
		v, ok := byPkg[u.pkg][u.version]
		if l.acked[i] || l.unacked[i] {
			require.True(t, ok, "acknowledged %s %s is listed", u.pkg, u.version)
		}
		if ok {
			require.NoError(t, checkDist(l.hc, read, v, marker(u.pkg, u.version)), "%s %s", u.pkg, u.version)
		}
	}
	for pkg, vs := range byPkg {
		for version, v := range vs {
			require.NoError(t, checkDist(l.hc, read, v, marker(pkg, version)), "%s %s", pkg, version)
		}
	}
	for j, want := range l.commits {
		p := l.pushes[j]
		require.NoError(t, bc.checkCommit(ctx, l.commitIDs[j], p, want))
		id, err := bc.labelCommit(ctx, org, p.module, p.labels[1])
		require.NoError(t, err)
		require.Equal(t, l.commitIDs[j], id, "label %s of push %d", p.labels[1], j)
	}
}

// verifyWithClients installs a sample of the acknowledged uploads with the
// real composer, and builds against one acknowledged commit of every
// module with the real buf, which verifies each digest.
func (l *load) verifyWithClients(t *testing.T, read string, realBuf *harness.BufClient, baseID string) {
	t.Helper()
	req, want := map[string]string{}, map[string]string{}
	for i := range l.uploads {
		u := l.uploads[i]
		if l.acked[i] && req[u.pkg] == "" && len(req) < 3 {
			req[u.pkg], want[u.pkg] = u.version, marker(u.pkg, u.version)
		}
	}
	c := harness.Composer(t, l.in.Host, read)
	dir := harness.ComposerProject(t, l.in.URL+"/composer/"+org, req)
	c.Must(dir, "update")
	for pkg, m := range want {
		b, err := os.ReadFile(filepath.Join(dir, "vendor", pkg, "src/Marker.php"))
		require.NoError(t, err)
		require.Equal(t, m, string(b))
	}

	deps, imports, pins := []string{}, []string{}, map[string]string{}
	for j, id := range l.commitIDs {
		p := l.pushes[j]
		if _, ok := pins[p.module]; !ok || p.dep != "" {
			pins[p.module] = id
		}
	}
	for k, id := range l.realCommits {
		pins[fmt.Sprintf("real%d", k)] = id
	}
	var mods []string
	for m := range pins {
		mods = append(mods, m)
	}
	sort.Strings(mods)
	for _, m := range mods {
		deps = append(deps, fmt.Sprintf("  - HOST/%s/%s:%s", org, m, pins[m]))
		imports = append(imports, fmt.Sprintf("import %q;", fmt.Sprintf("%s/v1/%s.proto", m, m)))
	}
	realBuf.Token = read
	realBuf.FreshCache()
	ws := realBuf.Workspace(map[string]string{
		"buf.yaml":  "version: v2\ndeps:\n" + strings.Join(deps, "\n") + "\n",
		"use.proto": "syntax = \"proto3\";\npackage use;\n" + strings.Join(imports, "\n") + "\nmessage Use { string id = 1; }\n",
	})
	realBuf.Run(ws, "dep", "update")
	realBuf.Run(ws, "build")
	lock, err := os.ReadFile(filepath.Join(ws, "buf.lock"))
	require.NoError(t, err)
	for j, id := range l.commitIDs {
		if pins[l.pushes[j].module] == id {
			require.Contains(t, string(lock), fmt.Sprintf("b5:%x", l.commits[j]), "buf.lock pins push %d's digest", j)
		}
	}
	for j, id := range l.commitIDs {
		if pins[l.pushes[j].module] == id && l.pushes[j].dep != "" {
			require.Contains(t, string(lock), baseID, "the base module comes in through its dependents")
		}
	}
}

// collect runs the CAS garbage collection on a restarted daemon with a
// grace of a millisecond and checks it removed exactly the garbage and no
// live blob, then checks every acknowledged write again.
func (l *load) collect(t *testing.T, st stores, read string, bc bufClients) {
	t.Helper()
	planted := st.plantGarbage(t)
	rows, orphans := st.garbage(t)
	require.GreaterOrEqual(t, rows, planted.rows)
	require.GreaterOrEqual(t, orphans, planted.orphans)
	live := st.checkLiveObjects(t)
	runs := strings.Count(l.in.Log(), "garbage collection done")
	l.in.Stop()
	l.in.Resume(map[string]string{"PACKYARD_GC_INTERVAL": "1s", "PACKYARD_GC_GRACE": "1ms"})
	stats := lastGC(t, l.in.Log, runs+1)
	l.in.Stop()
	l.in.Resume(map[string]string{"PACKYARD_GC_INTERVAL": "1h", "PACKYARD_GC_GRACE": "24h"})
	t.Logf("garbage before GC: %d unreferenced index rows, %d objects without a row, %d live blobs; GC removed %d rows, %d of their objects, %d orphan objects, %d packs, kept %d",
		rows, orphans, live, stats.Records, stats.Objects, stats.Orphans, stats.Packs, stats.Kept)
	require.Equal(t, rows, stats.Records, "GC removes every unreferenced row")
	require.Equal(t, orphans, stats.Orphans, "GC removes every object without a row")
	after, afterOrphans := st.garbage(t)
	require.Zero(t, after)
	require.Zero(t, afterOrphans)
	require.Zero(t, st.unusedPacks(t), "GC removes every pack no row names")
	require.Equal(t, live, st.checkLiveObjects(t), "GC leaves every live blob")
	st.checkInvariants(t)
	l.verify(t, read, bc)
}
