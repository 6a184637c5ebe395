package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// leakScanner is an http.RoundTripper that reads every response whole and
// fails the test when its status line, headers, body or trailers hold text
// only the log may hold: a service's address, port, user, database or
// bucket, or a driver's words. It remembers the request id of every error
// answer, to find it in the daemon's log.
type leakScanner struct {
	t      *testing.T
	next   http.RoundTripper
	banned []string                  // lower-case substrings, matched in any case
	exact  []string                  // substrings matched as they are
	ports  map[string]*regexp.Regexp // port numbers that may not appear as words

	mu      sync.Mutex
	answers []errorAnswer
}

// errorAnswer is a response that reported an error.
type errorAnswer struct {
	what   string // method and path
	status int
	id     string // X-Request-Id
}

func newLeakScanner(t *testing.T, banned, exact []string, ports ...int) *leakScanner {
	s := &leakScanner{t: t, next: http.DefaultTransport, ports: map[string]*regexp.Regexp{}}
	for _, b := range banned {
		s.banned = append(s.banned, strings.ToLower(b))
	}
	s.exact = exact
	for _, p := range ports {
		s.ports[strconv.Itoa(p)] = regexp.MustCompile(`(^|[^0-9A-Za-z])` + strconv.Itoa(p) + `([^0-9A-Za-z]|$)`)
	}
	return s
}

func (s *leakScanner) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := s.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	what := req.Method + " " + req.URL.Path
	var head bytes.Buffer
	fmt.Fprintln(&head, res.Status)
	_ = res.Header.Write(&head)
	_ = res.Trailer.Write(&head)
	s.scan(what, head.String()+"\n"+string(body))
	if id, failed := s.failure(what, res, body); failed {
		s.mu.Lock()
		s.answers = append(s.answers, errorAnswer{what: what, status: res.StatusCode, id: id})
		s.mu.Unlock()
	}
	return res, nil
}

func (s *leakScanner) scan(what, text string) {
	lower := strings.ToLower(text)
	for _, b := range s.banned {
		if i := strings.Index(lower, b); i >= 0 {
			s.t.Errorf("%s: the response holds %q: …%s…", what, b, excerpt(text, i))
		}
	}
	for _, b := range s.exact {
		if i := strings.Index(text, b); i >= 0 {
			s.t.Errorf("%s: the response holds %q: …%s…", what, b, excerpt(text, i))
		}
	}
	for port, re := range s.ports {
		if loc := re.FindStringIndex(text); loc != nil {
			s.t.Errorf("%s: the response holds the port %s: …%s…", what, port, excerpt(text, loc[0]))
		}
	}
}

func excerpt(s string, i int) string {
	return s[max(0, i-60):min(len(s), i+80)]
}

// failure reports whether res answers an error, checking that it names its
// request: the X-Request-Id header always, and a JSON error body's
// "request_id" with the same id.
func (s *leakScanner) failure(what string, res *http.Response, body []byte) (string, bool) {
	id := res.Header.Get("X-Request-Id")
	grpc := res.Header.Get("Grpc-Status")
	if res.StatusCode < 400 && (grpc == "" || grpc == "0") && !bytes.Contains(body, []byte("grpc-status:")) {
		return id, false
	}
	if bytes.Contains(body, []byte("grpc-status:0")) {
		return id, false
	}
	if id == "" {
		s.t.Errorf("%s: error answer %d without X-Request-Id", what, res.StatusCode)
	}
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		if _, ok := m["error"].(string); ok && m["request_id"] != id {
			s.t.Errorf("%s: error body names request %v, the header %s: %s", what, m["request_id"], id, body)
		}
		if e, ok := m["error"].(map[string]any); ok && e["request_id"] != id { // the admin API's shape
			s.t.Errorf("%s: error body names request %v, the header %s: %s", what, e["request_id"], id, body)
		}
	}
	return id, true
}

// requireLogged checks that each server error's request id is in the log
// beside the error's detail (a "detail" or "error" field).
func (s *leakScanner) requireLogged(log string) {
	s.t.Helper()
	details := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		id, _ := line["request_id"].(string)
		for _, key := range []string{"detail", "error"} {
			if d, _ := line[key].(string); id != "" && d != "" {
				details[id] = true
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.answers {
		if a.status >= 500 && !details[a.id] {
			s.t.Errorf("%s answered %d as request %s, but the log has no detail for that request", a.what, a.status, a.id)
		}
	}
}

// count returns how many error answers had a status in [lo, hi].
func (s *leakScanner) count(lo, hi int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.answers {
		if a.status >= lo && a.status <= hi {
			n++
		}
	}
	return n
}
