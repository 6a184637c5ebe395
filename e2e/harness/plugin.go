package harness

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Protoc plugins the code generation tests build, at the versions the
// repository's go.mod requires.
const (
	ProtocGenGo        = "google.golang.org/protobuf/cmd/protoc-gen-go"
	ProtocGenConnectGo = "connectrpc.com/connect/cmd/protoc-gen-connect-go"
)

var pluginBuilds sync.Map // cache path → *sync.Once-guarded result

type pluginBuild struct {
	once sync.Once
	path string
	err  error
}

// WasmPlugin builds a Go program as a WASI preview 1 module (GOOS=wasip1
// GOARCH=wasm) and returns its path; NativePlugin builds it for this
// machine. pkg is an import path resolved in the repository's module (so
// the versions are go.mod's) or a directory (a test's own program). Builds
// are kept between runs under the temporary directory, keyed by the
// package, the Go version, go.mod/go.sum and, for a directory, its files;
// they are never committed.
func WasmPlugin(t testing.TB, pkg string) string { return buildPlugin(t, pkg, "wasip1", "wasm") }

// NativePlugin is WasmPlugin for this machine's GOOS and GOARCH.
func NativePlugin(t testing.TB, pkg string) string {
	return buildPlugin(t, pkg, runtime.GOOS, runtime.GOARCH)
}

func buildPlugin(t testing.TB, pkg, goos, goarch string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("find the module root: %v", err)
	}
	key, err := pluginKey(root, pkg, goos, goarch)
	if err != nil {
		t.Fatalf("plugin %s: %v", pkg, err)
	}
	name := filepath.Base(pkg)
	if goos == "wasip1" {
		name += ".wasm"
	}
	path := filepath.Join(os.TempDir(), "packyard-plugins", key, name)
	v, _ := pluginBuilds.LoadOrStore(path, &pluginBuild{})
	b := v.(*pluginBuild)
	b.once.Do(func() {
		b.path = path
		if _, err := os.Stat(path); err == nil {
			return
		}
		tmp := path + fmt.Sprintf(".tmp%d", os.Getpid())
		cmd := exec.Command("go", "build", "-trimpath", "-o", tmp, pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("GOOS=%s GOARCH=%s go build %s: %v\n%s", goos, goarch, pkg, err, out)
			return
		}
		b.err = os.Rename(tmp, path)
	})
	if b.err != nil {
		t.Fatalf("build plugin: %v", b.err)
	}
	return b.path
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// pluginKey names one build: what is built, for where, with which Go and
// which dependency versions.
func pluginKey(root, pkg, goos, goarch string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s/%s\n%s\n", pkg, goos, goarch, runtime.Version())
	files := []string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")}
	if strings.HasPrefix(pkg, ".") || filepath.IsAbs(pkg) {
		dir := pkg
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(root, dir)
		}
		own, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			return "", err
		}
		files = append(files, own...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
