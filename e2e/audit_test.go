package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

type auditEvent struct {
	Action     string            `json:"action"`
	Outcome    string            `json:"outcome"`
	Org        string            `json:"org"`
	Resource   string            `json:"resource"`
	Actor      map[string]string `json:"actor"`
	ClientAddr string            `json:"client_addr"`
	UserAgent  string            `json:"user_agent"`
	RequestID  string            `json:"request_id"`
	Details    map[string]string `json:"details"`
}

func auditAPI(t *testing.T, in *harness.Instance, query, token string) (int, []auditEvent) {
	t.Helper()
	res, body := get(t, in, "/api/v1/audit"+query, token)
	if res.StatusCode != http.StatusOK {
		return res.StatusCode, nil
	}
	var out struct{ Events []auditEvent }
	require.NoError(t, json.Unmarshal([]byte(body), &out), body)
	return res.StatusCode, out.Events
}

// The admin CLI's writes and failed sign-ins land in the audit log once
// each; site and organization administrators read it through the API, the
// CLI lists and exports it.
func TestAuditLog(t *testing.T) {
	for _, backend := range harness.Backends {
		t.Run(string(backend), func(t *testing.T) {
			in := harness.Start(t, harness.Options{Backend: backend})
			in.MustCLI("org", "create", "acme")
			in.MustCLI("org", "create", "other")
			in.MustCLI("org", "set-public", "other")
			in.MustCLI("user", "create", "root", "--admin")
			in.MustCLI("user", "create", "olivia")
			in.MustCLI("org", "add-member", "acme", "olivia", "--role", "admin")
			siteTok := in.MustCLI("token", "create", "--org", "acme", "--scope", "admin", "--user", "root")
			orgTok := in.MustCLI("token", "create", "--org", "acme", "--scope", "admin", "--user", "olivia")
			readTok := in.MustCLI("token", "create", "--org", "acme", "--scope", "read")
			id, _ := strings.CutPrefix(readTok, "pky_")
			id = id[:16]
			in.MustCLI("token", "revoke", id)

			// A failed sign-in, with a request id and user agent of our choosing.
			req, _ := http.NewRequest(http.MethodGet, in.URL+"/api/v1/whoami", nil)
			req.SetBasicAuth("x", readTok)
			req.Header.Set("X-Request-Id", "audit-test-1")
			req.Header.Set("User-Agent", "audit-test/1.0")
			res, err := in.Client.Do(req)
			require.NoError(t, err)
			res.Body.Close()
			require.Equal(t, http.StatusUnauthorized, res.StatusCode)

			// The site token is limited to acme: it cannot read the whole log.
			code, _ := auditAPI(t, in, "", siteTok)
			require.Equal(t, http.StatusForbidden, code)
			code, _ = auditAPI(t, in, "", "")
			require.Equal(t, http.StatusUnauthorized, code)

			code, events := auditAPI(t, in, "?org=acme", orgTok)
			require.Equal(t, http.StatusOK, code)
			var actions []string
			for _, e := range events {
				require.Equal(t, "acme", e.Org)
				actions = append(actions, e.Action)
			}
			require.Equal(t, []string{"org.create", "member.set", "token.create", "token.create", "token.create", "token.revoke"}, actions,
				"every write to acme, once")
			require.Equal(t, "cli", events[0].Actor["method"])

			code, _ = auditAPI(t, in, "?org=other", orgTok)
			require.Equal(t, http.StatusForbidden, code, "olivia is no admin of the public org other")
			code, _ = auditAPI(t, in, "?org=acme&since=soon", orgTok)
			require.Equal(t, http.StatusBadRequest, code)

			// The whole log, through the CLI.
			var all []auditEvent
			require.NoError(t, json.Unmarshal([]byte(in.MustCLI("audit", "list", "--since", "1h", "--json")), &all))
			count := map[string]int{}
			var failed auditEvent
			for _, e := range all {
				count[e.Action]++
				if e.Action == "signin.failed" {
					failed = e
				}
			}
			require.Equal(t, map[string]int{"org.create": 2, "org.update": 1, "user.create": 2, "member.set": 1,
				"token.create": 3, "token.revoke": 1, "signin.failed": 1}, count)
			require.Equal(t, "failure", failed.Outcome)
			require.Equal(t, "token/"+id, failed.Resource)
			require.Equal(t, "audit-test-1", failed.RequestID)
			require.Equal(t, "audit-test/1.0", failed.UserAgent)
			require.Equal(t, "127.0.0.1", failed.ClientAddr)
			require.NotContains(t, in.MustCLI("audit", "export"), readTok[21:], "never a secret")

			table := in.MustCLI("audit", "list", "--org", "other")
			require.Contains(t, table, "org.update")
			require.NotContains(t, table, "token.create")

			var lines []auditEvent
			sc := bufio.NewScanner(strings.NewReader(in.MustCLI("audit", "export", "--org", "acme")))
			for sc.Scan() {
				var e auditEvent
				require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
				lines = append(lines, e)
			}
			require.Len(t, lines, 6)
			res, body := get(t, in, "/api/v1/audit/export?org=acme", orgTok)
			require.Equal(t, http.StatusOK, res.StatusCode)
			require.Equal(t, "application/x-ndjson", res.Header.Get("Content-Type"))
			require.Len(t, strings.Split(strings.TrimSpace(body), "\n"), 6)
			_, stderr, err := in.CLI("audit", "list", "--since", "yesterday")
			require.Error(t, err)
			require.Contains(t, stderr, "--since")
		})
	}
}
