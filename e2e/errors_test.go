package e2e

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/testenv"
)

// call is one request of the outage workload.
type call struct {
	name, method, path, token, ctype string
	body                             []byte
}

// zipOf is a package zip with the given composer.json.
func zipOf(t *testing.T, composerJSON string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("pkg/composer.json")
	require.NoError(t, err)
	_, _ = w.Write([]byte(composerJSON))
	w, err = zw.Create("pkg/src/A.php")
	require.NoError(t, err)
	_, _ = w.Write([]byte("<?php\n"))
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// outageCalls are Composer, buf (Connect, binary, gRPC-Web) and HTTP API
// requests, well-formed and malformed, by members, strangers and anonymous
// callers; phase makes the writes of each round distinct.
func outageCalls(t *testing.T, tok map[string]string, distPath string, phase int) []call {
	js := func(s string) []byte { return []byte(s) }
	base := `{"name":{"owner":"acme","module":"base"}}`
	v := strconv.Itoa(phase)
	calls := []call{
		{"packages.json", "GET", "/composer/acme/packages.json", tok["read"], "", nil},
		{"packages.json anonymous", "GET", "/composer/acme/packages.json", "", "", nil},
		{"packages.json other org", "GET", "/composer/acme/packages.json", tok["other"], "", nil},
		{"p2", "GET", "/composer/acme/p2/acme/util.json", tok["read"], "", nil},
		{"p2 dev", "GET", "/composer/acme/p2/acme/util~dev.json", tok["read"], "", nil},
		{"dist", "GET", distPath, tok["read"], "", nil},
		{"search", "GET", "/composer/acme/search.json?q=util", tok["read"], "", nil},
		{"list", "GET", "/composer/acme/list.json", tok["read"], "", nil},
		{"notify-batch", "POST", "/composer/acme/downloads", tok["read"], "application/json", js(`{"downloads":[{"name":"acme/util","version":"1.0.0"}]}`)},
		{"notify-batch malformed", "POST", "/composer/acme/downloads", tok["read"], "application/json", js(`{"downloads":{"name":1}}`)},
		{"upload", "PUT", "/composer/acme/upload?version=2.0." + v, tok["write"], "application/zip",
			zipOf(t, `{"name":"acme/util","type":"library"}`)},
		{"upload composer.json of wrong types", "PUT", "/composer/acme/upload?version=3.0." + v, tok["write"], "application/zip",
			zipOf(t, `{"name":["acme/util"],"require":"php","autoload":7}`)},
		{"upload composer.json not JSON", "PUT", "/composer/acme/upload?version=3.1." + v, tok["write"], "application/zip",
			zipOf(t, `{"name": "acme/util",`)},
		{"upload not a zip", "PUT", "/composer/acme/upload?version=3.2." + v, tok["write"], "application/zip", js("not a zip")},
		{"webhook", "POST", "/composer/acme/hooks/0123456789abcdef", "", "application/json", js(`{}`)},
		{"api packages", "GET", "/composer/acme/api/packages", tok["read"], "", nil},
		{"api sources", "GET", "/composer/acme/api/sources", tok["read"], "", nil},
		{"api sync", "POST", "/composer/acme/api/sources/0123456789abcdef/sync", tok["write"], "", nil},
		{"api upstreams", "GET", "/composer/acme/api/upstreams", tok["admin"], "", nil},
		{"api add upstream malformed", "POST", "/composer/acme/api/upstreams", tok["admin"], "application/json", js(`{"url":1,"name":[]}`)},
		{"api add upstream not JSON", "POST", "/composer/acme/api/upstreams", tok["admin"], "application/json", js(`{"url":`)},
		{"api advisories", "GET", "/composer/acme/api/advisories", tok["read"], "", nil},
		{"api add advisory malformed", "POST", "/composer/acme/api/advisories", tok["admin"], "application/json", js(`{"packageName":5,"affectedVersions":{}}`)},
		{"api mirror malformed", "POST", "/composer/acme/api/mirror", tok["write"], "application/json", js(`{"packages":"all"}`)},
		{"api delete version", "DELETE", "/composer/acme/api/packages/acme/util/versions/9.9.9", tok["admin"], "", nil},
		{"security advisories", "GET", "/composer/acme/security-advisories?packages[]=acme/util", tok["read"], "", nil},
		{"security advisories POST", "POST", "/composer/acme/security-advisories", tok["read"], "application/x-www-form-urlencoded", js("packages[]=acme/util")},
		{"mirror", "GET", "/composer/acme/mirror/pub/log/0123456789abcdef.zip", tok["read"], "", nil},

		{"GetModules", "POST", "/buf.registry.module.v1.ModuleService/GetModules", tok["write"], "application/json", js(`{"moduleRefs":[` + base + `]}`)},
		{"GetModules anonymous", "POST", "/buf.registry.module.v1.ModuleService/GetModules", "", "application/json", js(`{"moduleRefs":[` + base + `]}`)},
		{"GetModules other org", "POST", "/buf.registry.module.v1.ModuleService/GetModules", tok["other"], "application/json", js(`{"moduleRefs":[` + base + `]}`)},
		{"GetModules malformed", "POST", "/buf.registry.module.v1.ModuleService/GetModules", tok["write"], "application/json", js(`{"moduleRefs":7}`)},
		{"GetModules not JSON", "POST", "/buf.registry.module.v1.ModuleService/GetModules", tok["write"], "application/json", js(`{"moduleRefs":`)},
		{"GetModules binary garbage", "POST", "/buf.registry.module.v1.ModuleService/GetModules", tok["write"], "application/proto", js("\xff\xff\xff\xff")},
		{"GetModules gRPC-Web", "POST", "/buf.registry.module.v1.ModuleService/GetModules", tok["write"], "application/grpc-web+proto", js("\x00\x00\x00\x00\x00")},
		{"ListModules", "POST", "/buf.registry.module.v1.ModuleService/ListModules", tok["write"], "application/json", js(`{"ownerRefs":[{"name":"acme"}]}`)},
		{"CreateModules", "POST", "/buf.registry.module.v1.ModuleService/CreateModules", tok["write"], "application/json",
			js(`{"values":[{"ownerRef":{"name":"acme"},"name":"m` + v + `"}]}`)},
		{"GetCommits", "POST", "/buf.registry.module.v1.CommitService/GetCommits", tok["write"], "application/json", js(`{"resourceRefs":[` + base + `]}`)},
		{"GetGraph", "POST", "/buf.registry.module.v1.GraphService/GetGraph", tok["write"], "application/json", js(`{"resourceRefs":[` + base + `]}`)},
		{"Download", "POST", "/buf.registry.module.v1.DownloadService/Download", tok["write"], "application/json", js(`{"values":[{"resourceRef":` + base + `}]}`)},

		{"whoami", "GET", "/api/v1/whoami", tok["read"], "", nil},
		{"whoami unknown token", "GET", "/api/v1/whoami", "pky_0123456789abcdef_0123456789abcdef0123456789abcdef", "", nil},
		{"audit", "GET", "/api/v1/audit?org=acme", tok["admin"], "", nil},
		{"token exchange", "POST", "/api/v1/token/exchange", "", "application/json", js(`{"token":"a.b.c"}`)},
		{"token exchange malformed", "POST", "/api/v1/token/exchange", "", "application/json", js(`{"token":5}`)},
		{"readyz", "GET", "/readyz", "", "", nil},
	}
	return calls
}

// run sends calls through client and returns each answer's status.
func runCalls(t *testing.T, in *harness.Instance, client *http.Client, calls []call) map[string]int {
	t.Helper()
	status := map[string]int{}
	for _, c := range calls {
		req, err := http.NewRequest(c.method, in.URL+c.path, bytes.NewReader(c.body))
		require.NoError(t, err)
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		if strings.HasPrefix(c.path, "/buf.") && strings.HasPrefix(c.ctype, "application/json") || c.ctype == "application/proto" {
			req.Header.Set("Connect-Protocol-Version", "1")
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		res, err := client.Do(req)
		require.NoError(t, err, c.name)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		status[c.name] = res.StatusCode
	}
	return status
}

// No response tells a client where the database or the object store is, who
// packyard is there, or what its drivers said: not while both run, not
// while PostgreSQL is down, not when it is back, and not while MinIO is
// down. Every error answer names its request id, and the log has the
// detail under that id.
func TestNoInternalTextInResponses(t *testing.T) {
	pg := harness.StartPostgres(t)
	role, db := testenv.RandomName("pyu"), testenv.RandomName("pydb")
	pg.CreateRole(role, db)
	mi := harness.StartMinIOAs(t, testenv.RandomName("pyak"), testenv.RandomName("pysk"))
	bucket := testenv.RandomName("pyb")
	in := harness.Start(t, harness.Options{Env: map[string]string{
		"PACKYARD_DATABASE_URL":  fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=3", role, pg.Port, db),
		"PACKYARD_S3_ENDPOINT":   mi.Endpoint(),
		"PACKYARD_S3_BUCKET":     bucket,
		"PACKYARD_S3_ACCESS_KEY": mi.User,
		"PACKYARD_S3_SECRET_KEY": mi.Password,
		"PACKYARD_S3_REGION":     "us-east-1",
		"PACKYARD_S3_USE_TLS":    "false",
		"PACKYARD_REDIS_URL":     testenv.RedisURL(t),
		"PACKYARD_REDIS_PREFIX":  testenv.RandomName("e2e") + ":",
	}})
	scanner := newLeakScanner(t, []string{
		fmt.Sprintf("127.0.0.1:%d", pg.Port), role, db, mi.Endpoint(), bucket, mi.User, mi.Password,
		"pgx", "pq:", "SQLSTATE", "postgres", "minio", "dial tcp", "connection refused",
		"Go value of type", "Go struct field", "failed to connect", "broken pipe", "unexpected EOF",
		"XMinio", "AccessDenied", "NoSuchBucket", "*modulev1", "unmarshal into",
	}, []string{"sql: ", "json: cannot", "json: unknown", "proto: "}, pg.Port, mi.Port)
	client := &http.Client{Transport: scanner, Timeout: 90 * time.Second}

	tok := map[string]string{"admin": in.Token("acme", "admin"), "other": in.Token("other", "read")}
	tok["write"] = in.MustCLI("token", "create", "--org", "acme", "--scope", "write")
	tok["read"] = in.MustCLI("token", "create", "--org", "acme", "--scope", "read")

	// Content while everything runs: a Composer package and a buf module.
	st := runCalls(t, in, client, []call{{"upload", "PUT", "/composer/acme/upload?version=1.0.0", tok["write"], "application/zip",
		zipOf(t, `{"name":"acme/util","type":"library"}`)}})
	require.Equal(t, http.StatusCreated, st["upload"])
	distPath := distOf(t, in, client, tok["read"])
	bc := harness.Buf(t, in.Host, in.CAFile)
	bc.Login(tok["write"])
	bc.Run(bc.Workspace(map[string]string{
		"buf.yaml":           "version: v1\nname: HOST/acme/base\n",
		"base/v1/base.proto": "syntax = \"proto3\";\npackage base.v1;\nmessage Id { string value = 1; }\n",
	}), "push", "--create")

	st = runCalls(t, in, client, outageCalls(t, tok, distPath, 1))
	require.Equal(t, http.StatusOK, st["whoami"], "everything runs")
	require.Equal(t, http.StatusOK, st["dist"])
	require.Equal(t, http.StatusOK, st["Download"])

	pg.Stop()
	require.Eventually(t, func() bool { return status(t, in, "/readyz", "") == http.StatusServiceUnavailable }, 30*time.Second, 200*time.Millisecond)
	failedBefore := scanner.count(500, 599)
	st = runCalls(t, in, client, outageCalls(t, tok, distPath, 2))
	require.Equal(t, http.StatusServiceUnavailable, st["whoami"], "PostgreSQL is down")
	require.Greater(t, scanner.count(500, 599), failedBefore+10, "the outage answers server errors")

	pg.Start()
	require.Eventually(t, func() bool { return status(t, in, "/readyz", "") == http.StatusOK }, 60*time.Second, 200*time.Millisecond)
	st = runCalls(t, in, client, outageCalls(t, tok, distPath, 3))
	require.Equal(t, http.StatusOK, st["whoami"], "PostgreSQL is back")

	mi.Stop()
	failedBefore = scanner.count(500, 599)
	st = runCalls(t, in, client, outageCalls(t, tok, distPath, 4))
	require.Equal(t, http.StatusOK, st["whoami"], "the database still answers")
	require.Equal(t, http.StatusServiceUnavailable, st["dist"], "MinIO is down")
	require.Greater(t, scanner.count(500, 599), failedBefore, "the outage answers server errors")

	scanner.requireLogged(in.Log())
	require.Contains(t, in.Log(), fmt.Sprintf("127.0.0.1:%d", pg.Port), "the log keeps what clients are not told")
	require.Contains(t, in.Log(), mi.Endpoint())
}

// distOf returns the path of acme/util's dist, read from its p2 metadata.
func distOf(t *testing.T, in *harness.Instance, client *http.Client, token string) string {
	req, _ := http.NewRequest("GET", in.URL+"/composer/acme/p2/acme/util.json", nil)
	req.SetBasicAuth("token", token)
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var p2 struct {
		Packages map[string][]struct {
			Dist struct{ URL string } `json:"dist"`
		} `json:"packages"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&p2))
	require.NotEmpty(t, p2.Packages["acme/util"])
	u := p2.Packages["acme/util"][0].Dist.URL
	require.True(t, strings.HasPrefix(u, in.URL), u)
	return strings.TrimPrefix(u, in.URL)
}
