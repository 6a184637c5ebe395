package crash

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

// requestTimeout is how long a client of the outage test waits for an
// answer: packyard must answer within it, dependency or not.
const requestTimeout = 15 * time.Second

// outcome is what one request of the steady load got.
type outcome int

const (
	ok          outcome = iota
	unavailable         // 503 (Connect: Unavailable) with Retry-After
	violation           // anything else: another status, no Retry-After, no answer in time
)

// tally counts what the steady load saw, per phase.
type tally struct {
	mu         sync.Mutex
	phase      string
	counts     map[string]map[outcome]int
	violations []string
	lastOK     time.Time
	longestGap time.Duration
}

func (y *tally) add(kind string, o outcome, detail string) {
	y.mu.Lock()
	defer y.mu.Unlock()
	if y.counts[y.phase] == nil {
		y.counts[y.phase] = map[outcome]int{}
	}
	y.counts[y.phase][o]++
	switch o {
	case ok:
		now := time.Now()
		if !y.lastOK.IsZero() {
			y.longestGap = max(y.longestGap, now.Sub(y.lastOK))
		}
		y.lastOK = now
	case violation:
		y.violations = append(y.violations, fmt.Sprintf("%s during %s: %s", kind, y.phase, detail))
	}
}

func (y *tally) setPhase(p string) {
	y.mu.Lock()
	defer y.mu.Unlock()
	y.phase = p
}

// summarize counts violations by their text without request ids.
func summarize(vs []string) map[string]int {
	out := map[string]int{}
	for _, v := range vs {
		if i := strings.Index(v, `"request_id"`); i >= 0 {
			v = v[:i]
		}
		out[v]++
	}
	return out
}

// classifyHTTP judges an HTTP answer.
func classifyHTTP(res *http.Response, err error) (outcome, string) {
	if err != nil {
		return violation, "no answer: " + err.Error()
	}
	switch {
	case res.StatusCode/100 == 2:
		return ok, ""
	case res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != "":
		return unavailable, ""
	}
	return violation, fmt.Sprintf("%d (Retry-After %q)", res.StatusCode, res.Header.Get("Retry-After"))
}

// classifyConnect judges a Connect answer.
func classifyConnect(err error) (outcome, string) {
	if err == nil {
		return ok, ""
	}
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeUnavailable {
		return violation, err.Error()
	}
	if ce.Meta().Get("Retry-After") == "" {
		return violation, "Unavailable without Retry-After: " + err.Error()
	}
	return unavailable, ""
}

// steady is the load of the outage test: installs (packages.json, p2, a
// dist), buf downloads, uploads and pushes, one after the other per worker.
type steady struct {
	l    *load
	bc   bufClients
	read string
	y    *tally
	pin  upload // a version every install fetches
	base string // a commit every download fetches

	mu     sync.Mutex
	seq    int
	ackedU []upload
	ackedP map[string]push // commit id → push
	digest map[string][]byte
}

func (s *steady) get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth("token", s.read)
	res, err := s.l.hc.Do(req)
	if err == nil {
		res.Body.Close()
	}
	return res, err
}

func (s *steady) install(ctx context.Context) {
	for _, path := range []string{"/packages.json", "/p2/" + s.pin.pkg + ".json", "/p2/" + s.pin.pkg + "~dev.json"} {
		o, d := classifyHTTP(s.get(ctx, s.l.in.URL+"/composer/"+org+path))
		s.y.add("GET "+path, o, d)
		if o != ok {
			return
		}
	}
	vs, status, err := p2Versions(ctx, s.l.hc, s.l.in.URL, org, s.read, s.pin.pkg)
	if err != nil || status != http.StatusOK {
		return // judged above; the document may have become unavailable since
	}
	dist, _ := vs[s.pin.version]["dist"].(map[string]any)
	url, _ := dist["url"].(string)
	o, d := classifyHTTP(s.get(ctx, url))
	s.y.add("dist download", o, d)
}

func (s *steady) download(ctx context.Context) {
	o, d := classifyConnect(s.bc.downloadCommit(ctx, s.base))
	s.y.add("buf Download", o, d)
}

func (s *steady) next() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return s.seq
}

func (s *steady) upload(ctx context.Context, rng *rand.Rand) {
	pkg, version := org+"/steady", fmt.Sprintf("2.%d.0", s.next())
	u := upload{pkg: pkg, version: version, zip: packageZip(pkg, version, rng)}
	status, header, body := sendUpload(ctx, s.l.hc, s.l.in.URL, org, s.l.write, u)
	if status == 0 {
		s.y.add("upload", violation, body)
		return
	}
	o, d := classifyHTTP(&http.Response{StatusCode: status, Header: header}, nil)
	if o == violation {
		d += " " + body
	}
	s.y.add("upload", o, d)
	if o == ok {
		s.mu.Lock()
		s.ackedU = append(s.ackedU, u)
		s.mu.Unlock()
	}
}

func (s *steady) push(ctx context.Context) {
	n := s.next()
	p := push{owner: org, module: "mod0", labels: []string{"main", fmt.Sprintf("s%d", n)},
		files: map[string]string{"mod0/v1/mod0.proto": fmt.Sprintf("syntax = \"proto3\";\npackage mod0.v1;\n// steady %d\nmessage Mod0 { string id = 1; }\n", n)}}
	c, err := s.bc.send(ctx, p)
	o, d := classifyConnect(err)
	s.y.add("buf push", o, d)
	if o == ok {
		s.mu.Lock()
		s.ackedP[c.GetId()], s.digest[c.GetId()] = p, c.GetDigest().GetValue()
		s.mu.Unlock()
	}
}

// recovered waits until one of each operation succeeds in a row and
// returns how long that took.
func (s *steady) recovered(t *testing.T, what string, from time.Time) time.Duration {
	t.Helper()
	for time.Since(from) < 60*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		e1 := s.bc.downloadCommit(ctx, s.base)
		res, e2 := s.get(ctx, s.l.in.URL+"/composer/"+org+"/p2/"+s.pin.pkg+".json")
		cancel()
		if e1 == nil && e2 == nil && res.StatusCode == http.StatusOK {
			return time.Since(from)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("packyard did not recover within 60s of %s coming back", what)
	return 0
}

func TestDependencyOutages(t *testing.T) {
	start := time.Now()
	rng := rand.New(rand.NewPCG(seed(t), 1))
	pg, minio, redis := harness.StartPostgres(t), harness.StartMinIO(t), harness.StartRedis(t)
	env := minio.Env()
	env["PACKYARD_DATABASE_URL"], env["PACKYARD_REDIS_URL"] = pg.URL(), redis.URL()
	in := harness.Start(t, harness.Options{Env: env})
	l := &load{in: in, hc: &http.Client{Timeout: requestTimeout}, write: in.Token(org, "write")}
	s := &steady{l: l, read: in.MustCLI("token", "create", "--org", org, "--scope", "read"), y: &tally{counts: map[string]map[outcome]int{}},
		ackedP: map[string]push{}, digest: map[string][]byte{}}
	s.bc = newBufClients(l.hc, in.URL, l.write)
	ctx := context.Background()
	require.NoError(t, s.bc.createModule(ctx, org, "mod0"))
	s.pin = composerUploads(org, 1, rng)[0]
	status, _, body := sendUpload(ctx, l.hc, in.URL, org, l.write, s.pin)
	require.Equal(t, http.StatusCreated/100, status/100, body)
	s.push(ctx)
	for id := range s.ackedP {
		s.base = id
	}
	require.NotEmpty(t, s.base)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	ops := []func(context.Context){s.install, s.download, func(ctx context.Context) { s.upload(ctx, rng) }, s.push}
	for _, op := range ops {
		for range 2 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					op(context.Background())
					time.Sleep(20 * time.Millisecond)
				}
			})
		}
	}

	outage := 3 * time.Second
	recoveries := map[string]time.Duration{}
	s.y.setPhase("baseline")
	time.Sleep(time.Second)

	s.y.setPhase("PostgreSQL down")
	pg.Stop()
	time.Sleep(outage)
	pg.Start()
	s.y.setPhase("after PostgreSQL")
	recoveries["PostgreSQL"] = s.recovered(t, "PostgreSQL", time.Now())

	s.y.setPhase("MinIO down")
	minio.Stop()
	time.Sleep(outage)
	minio.Start()
	s.y.setPhase("after MinIO")
	recoveries["MinIO"] = s.recovered(t, "MinIO", time.Now())

	s.y.setPhase("Redis flushed")
	require.NoError(t, redis.CLI("flushall"))
	time.Sleep(time.Second)
	s.y.setPhase("Redis down")
	redis.Stop()
	time.Sleep(outage)
	redis.Start()
	s.y.setPhase("after Redis")
	recoveries["Redis"] = s.recovered(t, "Redis", time.Now())
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	for _, phase := range []string{"baseline", "PostgreSQL down", "after PostgreSQL", "MinIO down", "after MinIO", "Redis flushed", "Redis down", "after Redis"} {
		c := s.y.counts[phase]
		t.Logf("%-17s %4d requests: %4d succeeded, %4d answered 503 with Retry-After, %d otherwise", phase+":",
			c[ok]+c[unavailable]+c[violation], c[ok], c[unavailable], c[violation])
	}
	t.Logf("recovery after the dependency came back: %v; longest time without a successful request %s; %d uploads and %d pushes acknowledged; whole run %s",
		recoveries, s.y.longestGap.Round(time.Millisecond), len(s.ackedU), len(s.ackedP), time.Since(start).Round(time.Second))
	require.Empty(t, summarize(s.y.violations), "every request gets a success or a 503 with Retry-After in time")
	for _, d := range recoveries {
		require.Less(t, d, 10*time.Second, "packyard recovers within seconds: %v", recoveries)
	}

	// No acknowledged write was lost.
	for _, u := range s.ackedU {
		vs, status, err := p2Versions(ctx, l.hc, in.URL, org, s.read, u.pkg)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status)
		v, found := vs[u.version]
		require.True(t, found, "acknowledged %s %s is listed", u.pkg, u.version)
		require.NoError(t, checkDist(l.hc, s.read, v, marker(u.pkg, u.version)))
	}
	for id, p := range s.ackedP {
		require.NoError(t, s.bc.checkCommit(ctx, id, p, s.digest[id]))
	}
	if strings.Contains(in.Log(), "panic") {
		t.Fatalf("the daemon logged a panic")
	}
}
