package auth

import (
	"context"
	"errors"
	"github.com/packyard/packyard/pkg/access"
	"net"
	"net/http"

	"connectrpc.com/connect"
	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/errs"
)

// Guard limits authentication attempts; package ratelimit implements it.
// Its refusals wrap errs.ErrResourceExhausted and may implement
// access.HeaderSetter to add Retry-After and rate-limit headers.
type Guard interface {
	// Check refuses a request bearing credentials from a client address or
	// for a token id that failed too often recently.
	Check(ctx context.Context, addr, tokenID string) error
	// Failed counts a failed authentication of addr (and of tokenID when
	// the credential named one).
	Failed(ctx context.Context, addr, tokenID string) error
	// Request counts an authenticated request of a principal; the
	// access.HeaderSetter (may be nil) describes the remaining quota.
	Request(ctx context.Context, p *access.Principal) (access.HeaderSetter, error)
}

// MiddlewareOptions are the optional collaborators of the middleware.
type MiddlewareOptions struct {
	Audit audit.Recorder // records failed sign-ins (nil: none)
	Guard Guard          // rate limits (nil: none)
}

// Middleware authenticates every request before any handler decodes its
// body. Requests without credentials pass on anonymously; requests with
// invalid credentials are refused here with 401 (a Connect error for
// Connect clients). A dependency outage answers 503, never 401.
func Middleware(authn access.Authenticator, log *zap.Logger) access.Middleware {
	return NewMiddleware(authn, log, MiddlewareOptions{})
}

// NewMiddleware is Middleware that also records failed authentications in
// the audit log and limits them (429) per client address and per token.
func NewMiddleware(authn access.Authenticator, log *zap.Logger, opts MiddlewareOptions) access.Middleware {
	connectErrors := connect.NewErrorWriter()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			var addr, tokenID string
			if opts.Guard != nil || opts.Audit != nil {
				addr = ClientAddr(r)
				if secret, ok, _ := CredentialFromRequest(r); ok {
					tokenID, _ = ParseTokenID(secret)
				}
			}
			if opts.Guard != nil && r.Header.Get("Authorization") != "" {
				if err := opts.Guard.Check(ctx, addr, tokenID); err != nil {
					access.WriteError(w, r, connectErrors, err)
					return
				}
			}
			p, err := authn.Authenticate(ctx, r)
			switch {
			case errors.Is(err, access.ErrNoCredentials):
				next.ServeHTTP(w, r)
				return
			case err != nil:
				if errs.Category(err) == nil {
					log.Error("authentication failed", zap.Error(err))
				} else if errors.Is(err, errs.ErrUnauthenticated) {
					if opts.Audit != nil {
						e := audit.Event{Action: audit.ActionSignInFailed, Outcome: audit.Failure, ClientAddr: addr, UserAgent: r.UserAgent(),
							Actor: audit.Actor{TokenID: tokenID, Method: "token"}, Details: map[string]string{"reason": errs.PublicMessage(err)}}
						if tokenID != "" {
							e.Resource = "token/" + tokenID
						}
						audit.Record(ctx, opts.Audit, log, e)
					}
					if opts.Guard != nil {
						if gerr := opts.Guard.Failed(ctx, addr, tokenID); gerr != nil {
							log.Warn("counting a failed sign-in", zap.Error(gerr))
						}
					}
				}
				access.WriteError(w, r, connectErrors, err)
				return
			}
			if opts.Guard != nil {
				hs, err := opts.Guard.Request(ctx, p)
				if hs != nil {
					hs.SetHeaders(w.Header())
				}
				if err != nil {
					access.WriteError(w, r, connectErrors, err)
					return
				}
			}
			if h, ok := w.(interface{ SetPrincipal(string) }); ok {
				h.SetPrincipal(p.UserName)
			}
			next.ServeHTTP(w, r.WithContext(access.WithPrincipal(ctx, p)))
		})
	}
}

// ClientAddr is the client's IP address: the one the server's request
// middleware put in the context (which honours trusted proxy headers), else
// the connection's peer.
func ClientAddr(r *http.Request) string {
	if req, ok := audit.RequestFrom(r.Context()); ok && req.ClientAddr != "" {
		return req.ClientAddr
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
