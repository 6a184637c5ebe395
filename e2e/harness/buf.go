package harness

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// BufClient runs the real buf CLI against one registry with its own home,
// cache, configuration and netrc under Root.
type BufClient struct {
	Root  string // the client's private directory; a neutral working directory
	Host  string // the registry, HOST:PORT
	Netrc string // where `buf registry login` stores credentials
	Token string // BUF_TOKEN for the next commands, when set

	t     testing.TB
	bin   string
	path  string // PATH
	env   []string
	cache string
}

// Buf returns a buf client for the registry at host. With caFile it trusts
// that CA (the registry serves HTTPS); without, it speaks plain HTTP.
func Buf(t testing.TB, host, caFile string) *BufClient {
	t.Helper()
	root := t.TempDir()
	cfg := filepath.Join(root, "config")
	require.NoError(t, os.MkdirAll(cfg, 0o755))
	if caFile == "" {
		require.NoError(t, os.WriteFile(filepath.Join(cfg, "config.yaml"), []byte("version: v1\ntls:\n  use: false\n"), 0o644))
	}
	c := &BufClient{t: t, bin: Tool(t, "buf"), Root: root, Host: host, Netrc: filepath.Join(root, "netrc"),
		path: os.Getenv("PATH"), cache: filepath.Join(root, "cache")}
	c.env = []string{
		"HOME=" + filepath.Join(root, "home"),
		"NETRC=" + c.Netrc,
		"BUF_CONFIG_DIR=" + cfg,
		"BUF_ALPHA_SUPPRESS_WARNINGS=1",
		"BUF_BETA_SUPPRESS_WARNINGS=1",
	}
	if caFile != "" {
		c.env = append(c.env, "SSL_CERT_FILE="+caFile)
	}
	return c
}

// Command is buf ARGS in dir with the client's environment, not started:
// for a command the test interacts with while it runs.
func (c *BufClient) Command(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir = dir
	cmd.Env = append(append([]string{"PATH=" + c.path}, c.env...), "BUF_CACHE_DIR="+c.cache)
	if c.Token != "" {
		cmd.Env = append(cmd.Env, "BUF_TOKEN="+c.Token)
	}
	return cmd
}

// Try runs buf ARGS in dir with stdin and returns stdout, stderr and the error.
func (c *BufClient) Try(dir, stdin string, args ...string) (string, string, error) {
	cmd := c.Command(context.Background(), dir, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// Run runs buf ARGS in dir and returns stdout; it fails the test when buf fails.
func (c *BufClient) Run(dir string, args ...string) string {
	c.t.Helper()
	out, errOut, err := c.Try(dir, "", args...)
	require.NoError(c.t, err, "buf %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), out, errOut)
	return out
}

// Login stores token for the registry with `buf registry login --token-stdin`.
func (c *BufClient) Login(token string) {
	c.t.Helper()
	out, errOut, err := c.Try(c.Root, token+"\n", "registry", "login", c.Host, "--token-stdin")
	require.NoError(c.t, err, "%s %s", out, errOut)
}

// FreshCache makes the next commands start with an empty module cache.
func (c *BufClient) FreshCache() { c.cache = filepath.Join(c.t.TempDir(), "cache") }

// Workspace writes files (path → content, HOST replaced by the registry's
// host) under a new directory and returns it.
func (c *BufClient) Workspace(files map[string]string) string {
	c.t.Helper()
	dir := c.t.TempDir()
	for p, s := range files {
		full := filepath.Join(dir, p)
		require.NoError(c.t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(c.t, os.WriteFile(full, []byte(strings.ReplaceAll(s, "HOST", c.Host)), 0o644))
	}
	return dir
}

// StubBrowser makes buf open URLs with a stub that records them, one a line,
// in the file it returns, instead of starting a browser.
func (c *BufClient) StubBrowser() (opened string) {
	c.t.Helper()
	bin := filepath.Join(c.Root, "bin")
	require.NoError(c.t, os.MkdirAll(bin, 0o755))
	opened = filepath.Join(c.Root, "opened")
	require.NoError(c.t, os.WriteFile(filepath.Join(bin, "xdg-open"), []byte("#!/bin/sh\necho \"$1\" >> "+opened+"\n"), 0o755))
	c.path = bin + string(os.PathListSeparator) + c.path
	return opened
}
