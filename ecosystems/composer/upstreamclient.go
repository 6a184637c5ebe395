package composer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"golang.org/x/time/rate"

	"github.com/packyard/packyard/pkg/outbound"
	"github.com/packyard/packyard/pkg/secretbox"
)

// maxUpstreamDoc bounds one upstream metadata document.
const maxUpstreamDoc = 64 << 20

// upstreamClient makes packyard's requests to upstreams. Each is built
// from scratch: nothing of the client's request (its credentials above all)
// is ever forwarded, and an upstream's own credentials are sent to its own
// origin only. Every request waits for the upstream rate limit first.
type upstreamClient struct {
	store   *store
	box     *secretbox.Box
	httpc   *outbound.Client // metadata, listings and advisories
	distc   *outbound.Client // archives (bounded by their context)
	limiter *rate.Limiter
}

// password returns an upstream's http-basic password, "" when it has none.
func (c *upstreamClient) password(ctx context.Context, u upstreamRow) (string, error) {
	if !u.HasCred {
		return "", nil
	}
	sealed, err := c.store.upstreamCredential(ctx, u.ID)
	if err != nil {
		return "", err
	}
	pw, err := c.box.Open(sealed, upstreamSealContext(u.ID))
	if err != nil {
		return "", err
	}
	return string(pw), nil
}

// newRequest builds a request to an upstream; header is name, value pairs.
// The upstream's credentials are bound to its own origin (scheme, host and
// port): the guarded client adds them to requests there and nowhere else,
// not along a redirect to another origin either.
func newRequest(ctx context.Context, u upstreamRow, password, method, target string, body io.Reader, header ...string) (*http.Request, error) {
	if u.Username != "" {
		var err error
		if ctx, err = outbound.WithBasicAuthFor(ctx, u.URL, u.Username, password); err != nil {
			return nil, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "packyard (Composer mirror)")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req, nil
}

// wait waits for the upstream rate limit.
func (c *upstreamClient) wait(ctx context.Context) error {
	if err := c.limiter.Wait(ctx); err != nil {
		return fmt.Errorf("upstream rate limit: %w", err)
	}
	return nil
}

// call sends a metadata request (a document, a search, advisories) to an
// upstream.
func (c *upstreamClient) call(ctx context.Context, u upstreamRow, password, method, target string, body io.Reader, header ...string) (*http.Response, error) {
	if err := c.wait(ctx); err != nil {
		return nil, err
	}
	req, err := newRequest(ctx, u, password, method, target, body, header...)
	if err != nil {
		return nil, err
	}
	return c.httpc.Do(req)
}

// readLimited reads a whole answer of at most limit bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, outbound.Unreachable(err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return body, nil
}

// fetchDoc asks an upstream for one document (lastMod, when given, makes
// the request conditional). Status 304 means unchanged; 404 and 410 are
// both kept as 404.
func (c *upstreamClient) fetchDoc(ctx context.Context, u upstreamRow, password, target, lastMod string) (upDoc, error) {
	header := []string{"Accept", "application/json"}
	if lastMod != "" {
		header = append(header, "If-Modified-Since", lastMod)
	}
	res, err := c.call(ctx, u, password, http.MethodGet, target, nil, header...)
	if err != nil {
		return upDoc{}, err
	}
	defer res.Body.Close()
	switch res.StatusCode {
	case http.StatusNotModified:
		return upDoc{Status: http.StatusNotModified}, nil
	case http.StatusNotFound, http.StatusGone:
		return upDoc{Status: http.StatusNotFound, Digest: "404"}, nil
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return upDoc{}, fmt.Errorf("GET %s: HTTP %d: the upstream refused packyard's credentials", target, res.StatusCode)
	default:
		return upDoc{}, fmt.Errorf("GET %s: HTTP %d", target, res.StatusCode)
	}
	body, err := readLimited(res.Body, maxUpstreamDoc)
	if err != nil {
		return upDoc{}, fmt.Errorf("GET %s: %w", target, err)
	}
	if !json.Valid(body) || len(bytes.TrimSpace(body)) == 0 || bytes.TrimSpace(body)[0] != '{' {
		return upDoc{}, fmt.Errorf("GET %s: not a JSON object", target)
	}
	sum := sha256.Sum256(body)
	return upDoc{Status: http.StatusOK, Body: body, LastMod: res.Header.Get("Last-Modified"), Digest: hex.EncodeToString(sum[:16])}, nil
}
