package replicas

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/packyard/packyard/e2e/harness"
)

// op is one client operation as the client saw it.
type op struct {
	start, end time.Time
	err        string // empty when it succeeded
}

// opLog records the operations of one kind.
type opLog struct {
	name string
	mu   sync.Mutex
	ops  []op
}

func (l *opLog) record(start time.Time, err error, out string) bool {
	o := op{start: start, end: time.Now()}
	if err != nil {
		o.err = fmt.Sprintf("%v: %s", err, lastLines(out, 6))
	}
	l.mu.Lock()
	l.ops = append(l.ops, o)
	l.mu.Unlock()
	return err == nil
}

// summary is what the client saw: operations attempted, succeeded, failed,
// the longest unavailability (from the start of a failed operation to the
// start of the next one that succeeded) and the slowest operation.
type summary struct {
	name                string
	attempted, failed   int
	unavailable, slower time.Duration
	slowestAt           time.Time
	failures            []string
}

func (l *opLog) summary() summary {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := summary{name: l.name, attempted: len(l.ops)}
	var firstFail time.Time
	for _, o := range l.ops {
		if d := o.end.Sub(o.start); d > s.slower {
			s.slower, s.slowestAt = d, o.start
		}
		if o.err != "" {
			s.failed++
			s.failures = append(s.failures, o.start.Format("15:04:05.000")+" "+o.err)
			if firstFail.IsZero() {
				firstFail = o.start
			}
			continue
		}
		if !firstFail.IsZero() {
			s.unavailable = max(s.unavailable, o.start.Sub(firstFail))
			firstFail = time.Time{}
		}
	}
	if !firstFail.IsZero() {
		s.unavailable = max(s.unavailable, time.Since(firstFail))
	}
	return s
}

func (s summary) String() string {
	return fmt.Sprintf("%-16s attempted %4d  succeeded %4d  failed %2d  longest unavailability %6.2fs  slowest %5.2fs (at %s)",
		s.name, s.attempted, s.attempted-s.failed, s.failed, s.unavailable.Seconds(), s.slower.Seconds(), s.slowestAt.Format("15:04:05"))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// clients drive the real composer and buf through the load balancer in a
// loop until stopped: composer update from an empty cache (metadata and
// dists), buf dep update and buf build from an empty module cache, and buf
// pushes of new content (a failed push is tried again, up to five times, as
// a CI job would).
type clients struct {
	composer, depUpdate, build, push *opLog
	pushesLost                       atomic.Int64 // pushes that failed five times in a row
	stop                             atomic.Bool
	wg                               sync.WaitGroup
}

func startClients(t *testing.T, lbHost, readToken, writeToken string) *clients {
	c := &clients{composer: &opLog{name: "composer update"}, depUpdate: &opLog{name: "buf dep update"},
		build: &opLog{name: "buf build"}, push: &opLog{name: "buf push"}}
	harness.Tool(t, "composer") // missing: fail (or skip) here, not in a client goroutine
	repo := "http://" + lbHost + "/composer/acme"
	project := harness.ComposerProject(t, repo, map[string]string{"acme/app": "^1.0"})
	c.wg.Go(func() {
		for !c.stop.Load() {
			cc := harness.Composer(t, lbHost, readToken)
			_ = os.RemoveAll(filepath.Join(project, "vendor"))
			_ = os.Remove(filepath.Join(project, "composer.lock"))
			start := time.Now()
			out, err := cc.Run(project, "update")
			if err == nil {
				if _, serr := os.Stat(filepath.Join(project, "vendor/acme/util/src/Greeter.php")); serr != nil {
					err = serr
				}
			}
			c.composer.record(start, err, out)
		}
	})
	reader := harness.Buf(t, lbHost, "")
	reader.Token = readToken
	consumer := reader.Workspace(map[string]string{
		"buf.yaml":  "version: v2\ndeps:\n  - HOST/acme/base\n",
		"use.proto": "syntax = \"proto3\";\npackage use;\nimport \"base/v1/base.proto\";\nmessage Use { base.v1.Id id = 1; }\n",
	})
	c.wg.Go(func() {
		for !c.stop.Load() {
			reader.FreshCache()
			_ = os.Remove(filepath.Join(consumer, "buf.lock"))
			start := time.Now()
			out, errOut, err := reader.Try(consumer, "", "dep", "update")
			if !c.depUpdate.record(start, err, out+errOut) {
				continue
			}
			reader.FreshCache()
			start = time.Now()
			out, errOut, err = reader.Try(consumer, "", "build")
			c.build.record(start, err, out+errOut)
		}
	})
	pusher := harness.Buf(t, lbHost, "")
	pusher.Token = writeToken
	c.wg.Go(func() {
		for i := 0; !c.stop.Load(); i++ {
			ws := pusher.Workspace(map[string]string{
				"buf.yaml":               "version: v1\nname: HOST/acme/pushed\n",
				"pushed/v1/pushed.proto": fmt.Sprintf("syntax = \"proto3\";\npackage pushed.v1;\n// push %d\nmessage P { string id = 1; }\n", i),
			})
			ok := false
			for attempt := 0; attempt < 5 && !ok; attempt++ {
				start := time.Now()
				out, errOut, err := pusher.Try(ws, "", "push", "--create")
				ok = c.push.record(start, err, out+errOut)
			}
			if !ok {
				c.pushesLost.Add(1)
			}
		}
	})
	return c
}

// finish stops the loops after their current operation and returns what
// each client saw.
func (c *clients) finish() []summary {
	c.stop.Store(true)
	c.wg.Wait()
	return []summary{c.composer.summary(), c.depUpdate.summary(), c.build.summary(), c.push.summary()}
}

// progress returns the fewest successful operations of any client, for
// waiting until every client made progress.
func (c *clients) progress() int {
	n := -1
	for _, l := range []*opLog{c.composer, c.depUpdate, c.build, c.push} {
		l.mu.Lock()
		ok := 0
		for _, o := range l.ops {
			if o.err == "" {
				ok++
			}
		}
		l.mu.Unlock()
		if n < 0 || ok < n {
			n = ok
		}
	}
	return n
}
