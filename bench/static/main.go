// Command static is the benchmark harness's baseline of what the language
// itself costs: net/http serving files held in memory behind an HTTP Basic
// check, with Last-Modified, ETag and a precompressed gzip variant, and
// nothing else. scripts/bench-composer.sh loads it side by side with
// packyard and nginx, on the same bytes. It listens on loopback only.
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

type file struct {
	body, gz []byte
	etag     string
	modTime  time.Time
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	dir := flag.String("dir", "", "directory whose files are served (read once, at start)")
	user := flag.String("user", "token", "HTTP Basic user name")
	password := flag.String("password", "", "HTTP Basic password")
	flag.Parse()
	files, err := load(*dir)
	if err != nil {
		fail("%v", err)
	}
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fail("-addr: %s is not a loopback address", *addr)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fail("%v", err)
	}
	fmt.Println(ln.Addr().String()) // the harness reads the port
	wantUser, wantPass := sha256.Sum256([]byte(*user)), sha256.Sum256([]byte(*password))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		gu, gp := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		if !ok || subtle.ConstantTimeCompare(gu[:], wantUser[:])&subtle.ConstantTimeCompare(gp[:], wantPass[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="bench"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		serve(w, r, f)
	})
	if err := http.Serve(ln, h); err != nil {
		fail("%v", err)
	}
}

func serve(w http.ResponseWriter, r *http.Request, f *file) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("ETag", f.etag)
	h.Set("Last-Modified", f.modTime.UTC().Format(http.TimeFormat))
	h.Set("Vary", "Accept-Encoding")
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if inm == f.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	} else if t, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && !f.modTime.Truncate(time.Second).After(t) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := f.body
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = f.gz
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	_, _ = w.Write(body)
}

// load reads every file under dir (but the .gz files nginx serves), keyed
// by its URL path.
func load(dir string) (map[string]*file, error) {
	if dir == "" {
		return nil, fmt.Errorf("-dir is required")
	}
	files := map[string]*file{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".gz") {
			return err
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		_, _ = zw.Write(body)
		_ = zw.Close()
		sum := sha256.Sum256(body)
		rel, _ := filepath.Rel(dir, path)
		files["/"+filepath.ToSlash(rel)] = &file{body: body, gz: gz.Bytes(), etag: `"` + hex.EncodeToString(sum[:16]) + `"`, modTime: info.ModTime()}
		return nil
	})
	return files, err
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "static: "+format+"\n", args...)
	os.Exit(2)
}
