package composer

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/packyard/packyard/ecosystems/composer/format"
)

// Ready is a document as it is sent: its bytes for one base URL, their
// gzip variant, ETag and Last-Modified, built once per change of the
// document and then only copied to clients.
type Ready struct {
	Body         []byte
	Gzip         []byte // nil when compression does not make it smaller
	ETag         string // strong, of Body
	GzipETag     string // strong, of Gzip
	LastModified string // http.TimeFormat
	ModTime      time.Time
	size         int64
}

// newReady builds the served form of a document for a base URL.
func newReady(d Doc, base string) *Ready {
	body := format.ExpandBase(d.Body, base)
	sum := sha256.Sum256(body)
	tag := hex.EncodeToString(sum[:16])
	r := &Ready{Body: body, ETag: `"` + tag + `"`, ModTime: d.ModTime.UTC(),
		LastModified: d.ModTime.UTC().Format(http.TimeFormat)}
	if len(body) > 256 {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(body)
		_ = zw.Close()
		if buf.Len() < len(body) {
			r.Gzip, r.GzipETag = bytes.Clone(buf.Bytes()), `"`+tag+`-gz"`
		}
	}
	r.size = int64(len(r.Body)+len(r.Gzip)+len(r.ETag)+len(r.GzipETag)+len(r.LastModified)) + 128
	return r
}

// readyKey names a served document: the organization, the document's key
// and the base URL its links carry.
type readyKey struct{ org, doc, base string }

// readyVersion is what a served document was built from: a repository's
// own documents are immutable at a generation; the others (proxied ones)
// are known by a fingerprint of their bytes and modification time.
type readyVersion struct {
	gen      int64
	sum, mod uint64
}

type readyEntry struct {
	version readyVersion
	ready   *Ready
}

// readyCache holds served documents in memory, up to a byte budget; past
// it, arbitrary entries are dropped (a dropped document is built again
// from the shared cache on its next request). Each key holds one version:
// a document built from a newer generation replaces the older one.
type readyCache struct {
	entries sync.Map // readyKey → readyEntry
	bytes   atomic.Int64
	max     int64
	evict   sync.Mutex
	seed    maphash.Seed
}

func newReadyCache(maxBytes int64) *readyCache {
	return &readyCache{max: maxBytes, seed: maphash.MakeSeed()}
}

// get returns the served document of k when it was built from version.
func (c *readyCache) get(k readyKey, version readyVersion) *Ready {
	v, ok := c.entries.Load(k)
	if !ok {
		return nil
	}
	if e := v.(readyEntry); e.version == version {
		return e.ready
	}
	return nil
}

// put builds and keeps the served document of k at version.
func (c *readyCache) put(k readyKey, version readyVersion, d Doc) *Ready {
	r := newReady(d, k.base)
	if r.size > c.max/4 {
		return r // one document never takes most of the budget
	}
	old, loaded := c.entries.Swap(k, readyEntry{version: version, ready: r})
	delta := r.size
	if loaded {
		delta -= old.(readyEntry).ready.size
	}
	if c.bytes.Add(delta) > c.max {
		c.shrink()
	}
	return r
}

// shrink drops entries (in the map's arbitrary order) until the cache is
// at three quarters of its budget.
func (c *readyCache) shrink() {
	c.evict.Lock()
	defer c.evict.Unlock()
	c.entries.Range(func(k, v any) bool {
		if c.bytes.Load() <= c.max*3/4 {
			return false
		}
		if c.entries.CompareAndDelete(k, v) {
			c.bytes.Add(-v.(readyEntry).ready.size)
		}
		return true
	})
}

// atGeneration is the version of a repository's own document.
func atGeneration(gen int64) readyVersion { return readyVersion{gen: gen} }

// fingerprint is the version of a document that no generation names (a
// proxied one): a hash of its bytes and its modification time.
func (c *readyCache) fingerprint(d Doc) readyVersion {
	return readyVersion{gen: -1, sum: maphash.Bytes(c.seed, d.Body), mod: uint64(d.ModTime.UnixNano())}
}

// acceptsGzip reports whether an Accept-Encoding header accepts gzip: it
// names gzip (or x-gzip, or *) without q=0.
func acceptsGzip(header string) bool {
	for header != "" {
		var part string
		part, header, _ = strings.Cut(header, ",")
		name, params, _ := strings.Cut(part, ";")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "gzip", "x-gzip", "*":
			if !zeroQuality(params) {
				return true
			}
		}
	}
	return false
}

// zeroQuality reports whether the parameters of a coding say q=0.
func zeroQuality(params string) bool {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && q == 0
		}
	}
	return false
}

// etagMatches reports whether an If-None-Match header names one of the
// document's ETags (weak comparison, as If-None-Match asks), or is "*".
func etagMatches(header string, r *Ready) bool {
	for header != "" {
		var t string
		t, header, _ = strings.Cut(header, ",")
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == r.ETag || (r.GzipETag != "" && t == r.GzipETag) {
			return true
		}
	}
	return false
}

// notModified tells whether a request's conditional headers match the
// document: If-None-Match when present (it overrides If-Modified-Since),
// else If-Modified-Since at Last-Modified's one-second precision.
func notModified(req *http.Request, r *Ready) bool {
	if inm := req.Header.Get("If-None-Match"); inm != "" {
		return etagMatches(inm, r)
	}
	ims := req.Header.Get("If-Modified-Since")
	if ims == "" {
		return false
	}
	if ims == r.LastModified {
		return true
	}
	t, err := http.ParseTime(ims)
	return err == nil && !r.ModTime.Truncate(time.Second).After(t)
}

// writeReady answers a request with a served document: 304 when the
// client's copy is current, the gzip variant when the client accepts it.
func writeReady(w http.ResponseWriter, req *http.Request, r *Ready) {
	h := w.Header()
	h["Content-Type"] = jsonType
	h["Cache-Control"] = revalidate
	h["Vary"] = varyEncoding
	h["Last-Modified"] = []string{r.LastModified}
	body, etag := r.Body, r.ETag
	gz := r.Gzip != nil && acceptsGzip(req.Header.Get("Accept-Encoding"))
	if gz {
		body, etag = r.Gzip, r.GzipETag
	}
	h["Etag"] = []string{etag}
	if notModified(req, r) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if gz {
		h["Content-Encoding"] = gzipEncoding
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// Header values shared by every answer (never modified).
var (
	jsonType     = []string{"application/json"}
	revalidate   = []string{"private, no-cache"}
	varyEncoding = []string{"Accept-Encoding"}
	gzipEncoding = []string{"gzip"}
)
