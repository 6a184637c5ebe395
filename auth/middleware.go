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

// Guard throttles failed authentication; package ratelimit implements it.
// It never refuses a request whose credentials are correct because of
// failures: requests are authenticated first, and only failures are counted
// and refused. Its refusals wrap errs.ErrResourceExhausted and may implement
// access.HeaderSetter to add Retry-After and rate-limit headers.
type Guard interface {
	// Failed counts a failed authentication from a client address (and of
	// the token id the credential named, from that address). It returns a
	// refusal (wrapping errs.ErrResourceExhausted) when the attempt is past
	// a limit: the caller answers it instead of its own error. Any other
	// error means the failure was not counted.
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

// NewMiddleware is Middleware that also limits failed authentications per
// client address and per address and token id (a failure past a limit
// answers 429 instead of 401 and is not recorded again) and records the
// others in the audit log. Correct credentials are always served.
func NewMiddleware(authn access.Authenticator, log *zap.Logger, opts MiddlewareOptions) access.Middleware {
	connectErrors := connect.NewErrorWriter()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			p, err := authn.Authenticate(ctx, r)
			switch {
			case errors.Is(err, access.ErrNoCredentials):
				next.ServeHTTP(w, r)
				return
			case err != nil:
				if errors.Is(err, errs.ErrUnauthenticated) { // WriteError logs the others
					err = failedSignIn(r, log, opts, err)
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

// failedSignIn counts and records a failed authentication of a request's
// Authorization header (see FailedSignIn).
func failedSignIn(r *http.Request, log *zap.Logger, opts MiddlewareOptions, err error) error {
	tokenID := ""
	if secret, ok, _ := CredentialFromRequest(r); ok {
		tokenID, _ = ParseTokenID(secret)
	}
	return FailedSignIn(r, log, opts, tokenID, "token", err)
}

// FailedSignIn counts a failed authentication (of the token id the
// credential named, "" when none; by method, e.g. "token", "web") against
// the Guard's limits and records it in the audit log; it returns the error
// to answer: the Guard's refusal past a limit (then nothing is recorded, so
// that a flood of failures cannot flood the log), else err.
func FailedSignIn(r *http.Request, log *zap.Logger, opts MiddlewareOptions, tokenID, method string, err error) error {
	ctx := r.Context()
	addr := ClientAddr(r)
	if opts.Guard != nil {
		gerr := opts.Guard.Failed(ctx, addr, tokenID)
		if errors.Is(gerr, errs.ErrResourceExhausted) {
			return gerr
		}
		if gerr != nil {
			log.Warn("counting a failed sign-in", zap.Error(gerr))
		}
	}
	if opts.Audit != nil {
		e := audit.Event{Action: audit.ActionSignInFailed, Outcome: audit.Failure, ClientAddr: addr, UserAgent: r.UserAgent(),
			Actor: audit.Actor{TokenID: tokenID, Method: method}, Details: map[string]string{"reason": errs.PublicMessage(err)}}
		if tokenID != "" {
			e.Resource = "token/" + tokenID
		}
		audit.Record(ctx, opts.Audit, log, e)
	}
	return err
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
