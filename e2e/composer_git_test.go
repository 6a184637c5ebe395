package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/packyard/packyard/e2e/harness"
)

// A bare repository with one tagged Composer package.
func bareRepo(t *testing.T, name string) string {
	g := harness.GitRepo(t)
	g.Commit(map[string]string{"composer.json": fmt.Sprintf(`{"name": "acme/%s", "description": "over the wire"}`, name)})
	g.Git("tag", "1.0.0")
	bare := filepath.Join(t.TempDir(), name+".git")
	out, err := exec.Command("git", "clone", "-q", "--bare", g.Dir, bare).CombinedOutput()
	require.NoError(t, err, string(out))
	return bare
}

func packagesOf(t *testing.T, in *harness.Instance) string {
	var v any
	require.NoError(t, json.Unmarshal([]byte(in.MustCLI("composer", "list", "--org", "acme", "--json")), &v))
	return fmt.Sprint(v)
}

// A git repository over https-style smart HTTP that demands a token (git
// http-backend behind HTTP Basic): packyard syncs it with the token stored
// encrypted, and refuses to register it with a wrong token.
func TestComposerGitOverHTTPWithToken(t *testing.T) {
	harness.Tool(t, "git")
	backend := "/usr/lib/git-core/git-http-backend"
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git http-backend not found: %v", err)
	}
	bare := bareRepo(t, "overhttp")
	const token = "s3cret-token"
	cgiHandler := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(bare), "GIT_HTTP_EXPORT_ALL=1"}}
	var sawToken bool
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pass, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(pass), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		sawToken = true
		cgiHandler.ServeHTTP(w, r)
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })

	in := harness.Start(t, harness.Options{Env: loopbackOutbound()})
	in.Token("acme", "read")
	url := "http://" + l.Addr().String() + "/overhttp.git"

	tokenFile := func(s string) string {
		p := filepath.Join(t.TempDir(), "token")
		require.NoError(t, os.WriteFile(p, []byte(s+"\n"), 0o600))
		return p
	}
	_, stderr, err := in.CLI("composer", "add-vcs", "--org", "acme", "--url", url, "--token-file", tokenFile("wrong-token-value"))
	require.Error(t, err, "a wrong token fails the first sync")
	require.Contains(t, stderr, "was not registered")
	require.NotContains(t, stderr, "wrong-token-value", "the token is never printed")
	require.False(t, sawToken)

	in.MustCLI("composer", "add-vcs", "--org", "acme", "--url", url, "--token-file", tokenFile(token))
	require.True(t, sawToken)
	require.Contains(t, packagesOf(t, in), "acme/overhttp")
	require.NotContains(t, in.MustCLI("composer", "list-vcs", "--org", "acme", "--json"), token)
}

// A git repository over ssh with a deploy key (an ssh server in the test
// that runs git-upload-pack for an authorized ed25519 key only).
func TestComposerGitOverSSHWithDeployKey(t *testing.T) {
	harness.Tool(t, "git-upload-pack")
	bare := bareRepo(t, "overssh")

	// The deploy key packyard gets, and the server's host key.
	_, deployPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	deploySigner, err := ssh.NewSignerFromKey(deployPriv)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(deployPriv, "deploy key")
	require.NoError(t, err)
	keyFile := filepath.Join(t.TempDir(), "deploy_key")
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600))
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	require.NoError(t, err)

	authorized := string(deploySigner.PublicKey().Marshal())
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
		if string(key.Marshal()) == authorized {
			return nil, nil
		}
		return nil, fmt.Errorf("unknown key")
	}}
	cfg.AddHostKey(hostSigner)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				serveGitSSH(conn, cfg, filepath.Dir(bare))
			}()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	line := fmt.Sprintf("[127.0.0.1]:%d %s", port, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostSigner.PublicKey()))))
	require.NoError(t, os.WriteFile(knownHosts, []byte(line+"\n"), 0o644))

	in := harness.Start(t, harness.Options{Env: loopbackOutbound()})
	in.Token("acme", "read")
	url := fmt.Sprintf("ssh://git@127.0.0.1:%d/overssh.git", port)
	in.MustCLI("composer", "add-vcs", "--org", "acme", "--url", url, "--ssh-key-file", keyFile, "--known-hosts-file", knownHosts)
	require.Contains(t, packagesOf(t, in), "acme/overssh")
	require.NotContains(t, in.MustCLI("composer", "list-vcs", "--org", "acme", "--json"), "PRIVATE KEY")

	// A key the server does not know is refused, and nothing is registered.
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	otherBlock, _ := ssh.MarshalPrivateKey(otherPriv, "")
	otherFile := filepath.Join(t.TempDir(), "other_key")
	require.NoError(t, os.WriteFile(otherFile, pem.EncodeToMemory(otherBlock), 0o600))
	_, stderr, err := in.CLI("composer", "add-vcs", "--org", "acme", "--url", strings.Replace(url, "overssh", "overssh2", 1),
		"--ssh-key-file", otherFile, "--known-hosts-file", knownHosts)
	require.Error(t, err)
	require.Contains(t, stderr, "was not registered")
}

// serveGitSSH serves one ssh connection: only "git-upload-pack '<repo>'"
// execs inside root.
func serveGitSSH(conn net.Conn, cfg *ssh.ServerConfig, root string) {
	defer conn.Close()
	_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, requests, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			defer ch.Close()
			for req := range requests {
				if req.Type != "exec" {
					_ = req.Reply(false, nil)
					continue
				}
				var payload struct{ Command string }
				if ssh.Unmarshal(req.Payload, &payload) != nil {
					_ = req.Reply(false, nil)
					return
				}
				verb, arg, _ := strings.Cut(payload.Command, " ")
				repo := filepath.Join(root, filepath.Base(strings.Trim(arg, "'\"/")))
				if verb != "git-upload-pack" {
					_ = req.Reply(false, nil)
					return
				}
				_ = req.Reply(true, nil)
				cmd := exec.Command("git-upload-pack", repo)
				cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
				status := uint32(0)
				if err := cmd.Run(); err != nil {
					status = 1
				}
				_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
				return
			}
		}()
	}
}

// loopbackOutbound lets packyard reach the test's own servers on
// 127.0.0.1, which the outbound policy refuses by default.
func loopbackOutbound() map[string]string {
	return map[string]string{"PACKYARD_OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8"}
}
