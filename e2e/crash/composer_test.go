package crash

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// upload is one Composer upload the load makes: a package version whose
// archive carries a marker file naming it.
type upload struct {
	pkg, version string
	zip          []byte
}

// marker is the content of the file each archive carries, so a download
// proves it is the archive of that version and no other.
func marker(pkg, version string) string { return "<?php // " + pkg + " " + version + "\n" }

// composerUploads makes n uploads over ten packages.
func composerUploads(org string, n int, rng *rand.Rand) []upload {
	out := make([]upload, n)
	for i := range out {
		pkg := fmt.Sprintf("%s/pkg%02d", org, i%10)
		version := fmt.Sprintf("1.%d.0", i/10)
		out[i] = upload{pkg: pkg, version: version, zip: packageZip(pkg, version, rng)}
	}
	return out
}

// packageZip is the archive of one version: its composer.json, the marker
// naming it and some incompressible padding, so writes take a moment.
func packageZip(pkg, version string, rng *rand.Rand) []byte {
	pad := make([]byte, 16<<10+rngInt(rng, 48<<10))
	rngMu.Lock()
	for j := range pad {
		pad[j] = byte(rng.Uint32())
	}
	rngMu.Unlock()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	files := []struct {
		name string
		body []byte
	}{
		{"composer.json", []byte(fmt.Sprintf(`{"name": %q, "type": "library", "autoload": {"psr-4": {"Acme\\Pkg\\": "src/"}}}`, pkg))},
		{"src/Marker.php", []byte(marker(pkg, version))},
		{"data/pad.bin", pad},
	}
	for _, f := range files {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: "pkg/" + f.name, Method: zip.Store})
		_, _ = w.Write(f.body) // writes to memory do not fail
	}
	_ = zw.Close()
	return buf.Bytes()
}

// sendUpload makes one attempt; it reports the HTTP status (0 when no
// answer came: refused, reset or timed out) and the answer's headers.
func sendUpload(ctx context.Context, hc *http.Client, base, org, token string, u upload) (int, http.Header, string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/composer/"+org+"/upload?version="+u.version, bytes.NewReader(u.zip))
	if err != nil {
		return 0, nil, err.Error()
	}
	req.SetBasicAuth("token", token)
	req.Header.Set("Content-Type", "application/zip")
	res, err := hc.Do(req)
	if err != nil {
		return 0, nil, err.Error()
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	return res.StatusCode, res.Header, string(body)
}

// p2Version is one version of a p2 document, expanded.
type p2Version map[string]any

// p2Versions fetches a package's p2 document and expands Composer's
// minified form (each entry repeats only what changed from the one before).
func p2Versions(ctx context.Context, hc *http.Client, base, org, token, pkg string) (map[string]p2Version, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/composer/"+org+"/p2/"+pkg+".json", nil)
	if err != nil {
		return nil, 0, err
	}
	req.SetBasicAuth("token", token)
	res, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, res.StatusCode, nil
	}
	var doc struct {
		Minified string                 `json:"minified"`
		Packages map[string][]p2Version `json:"packages"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		return nil, res.StatusCode, err
	}
	out := map[string]p2Version{}
	prev := p2Version{}
	for _, v := range doc.Packages[strings.TrimSuffix(pkg, "~dev")] { // pkg~dev: the dev versions' file
		cur := p2Version{}
		if doc.Minified != "" {
			for k, x := range prev {
				cur[k] = x
			}
		}
		for k, x := range v {
			if x == "__unset" {
				delete(cur, k)
				continue
			}
			cur[k] = x
		}
		version, _ := cur["version"].(string)
		out[version] = cur
		prev = cur
	}
	return out, http.StatusOK, nil
}

// checkDist downloads a version's dist and checks it against the sha1 the
// metadata states and, when want is set, against the marker it must hold.
func checkDist(hc *http.Client, token string, v p2Version, want string) error {
	dist, _ := v["dist"].(map[string]any)
	url, _ := dist["url"].(string)
	shasum, _ := dist["shasum"].(string)
	if url == "" || shasum == "" {
		return fmt.Errorf("no dist url or shasum: %v", dist)
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth("token", token)
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("dist %s: %d %s", url, res.StatusCode, body)
	}
	sum := sha1.Sum(body)
	if got := hex.EncodeToString(sum[:]); got != shasum {
		return fmt.Errorf("dist %s: sha1 %s, metadata says %s", url, got, shasum)
	}
	if want == "" {
		return nil
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return fmt.Errorf("dist %s: %v", url, err)
	}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "src/Marker.php") {
			rc, err := f.Open()
			if err != nil {
				return err
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return err
			}
			if string(b) != want {
				return fmt.Errorf("dist %s holds %q, want %q", url, b, want)
			}
			return nil
		}
	}
	return fmt.Errorf("dist %s has no src/Marker.php", url)
}
