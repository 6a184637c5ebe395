package identity

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/packyard/packyard/pkg/errs"
)

// discoveryTimeout bounds one discovery of a provider.
const discoveryTimeout = 10 * time.Second

// retryAfterFailure is how long a failed discovery is remembered before the
// next request tries again.
const retryAfterFailure = 5 * time.Second

// lazyProvider discovers an OIDC provider on first use (never in a
// constructor), keeps it once found, and retries a failed discovery after a
// few seconds.
type lazyProvider struct {
	issuer string
	client *http.Client

	mu       sync.Mutex
	p        *oidc.Provider
	meta     providerMeta
	err      error
	failedAt time.Time
}

// providerMeta are the discovery fields go-oidc does not expose.
type providerMeta struct {
	DeviceAuthURL string `json:"device_authorization_endpoint"`
	UserInfoURL   string `json:"userinfo_endpoint"`
}

func newLazyProvider(issuer string, client *http.Client) *lazyProvider {
	return &lazyProvider{issuer: issuer, client: client}
}

// get returns the provider, discovering it if needed; a failure wraps
// errs.ErrUnavailable.
func (l *lazyProvider) get(ctx context.Context) (*oidc.Provider, providerMeta, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.p != nil {
		return l.p, l.meta, nil
	}
	if l.err != nil && time.Since(l.failedAt) < retryAfterFailure {
		return nil, providerMeta{}, l.err
	}
	dctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	if l.client != nil {
		dctx = oidc.ClientContext(dctx, l.client)
	}
	p, err := oidc.NewProvider(dctx, l.issuer)
	if err != nil {
		l.err, l.failedAt = errs.Wrap(errs.ErrUnavailable, fmt.Sprintf("identity provider %s: discovery failed", l.issuer), err), time.Now()
		return nil, providerMeta{}, l.err
	}
	var meta providerMeta
	if err := p.Claims(&meta); err != nil {
		l.err, l.failedAt = errs.Wrap(errs.ErrUnavailable, fmt.Sprintf("identity provider %s: the discovery document is not valid", l.issuer), err), time.Now()
		return nil, providerMeta{}, l.err
	}
	l.p, l.meta, l.err = p, meta, nil
	return p, meta, nil
}
