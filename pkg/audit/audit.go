// Package audit records who changed what, when and from where: every write
// to the kernel (tokens, users, organizations, memberships), every sign-in
// and failed sign-in, and the ecosystems' writes (publishes, pushes,
// deletes, syncs).
//
// A Recorder fills what the request context knows: the actor (set by the
// authentication middleware through access.WithPrincipal, or by the admin CLI
// with WithActor), and the client address, user agent and request id (set by
// the server's request middleware with WithRequest). Callers only name the
// action, the organization and the resource:
//
//	audit.Record(ctx, rec, log, audit.Event{Action: "composer.publish", Org: "acme", Resource: "acme/foo@1.2.0"})
//
// Record is the one failure policy for a record of what already happened:
// a failure is logged at error level, never returned to fail the request.
//
// The package is a leaf: it imports no other packyard package but
// pkg/config, pkg/errs and pkg/sqldb, so every other package may record.
package audit

import (
	"context"
	"time"
)

// Outcomes of an event.
const (
	Success = "success"
	Failure = "failure"
)

// Kernel actions. Ecosystems name theirs "<ecosystem>.<verb>" (for example
// "composer.publish", "buf.push", "buf.label.move").
const (
	ActionOrgCreate    = "org.create"
	ActionOrgUpdate    = "org.update"
	ActionOrgDelete    = "org.delete"
	ActionUserCreate   = "user.create"
	ActionUserUpdate   = "user.update"
	ActionUserDelete   = "user.delete"
	ActionMemberSet    = "member.set"
	ActionMemberRemove = "member.remove"
	ActionTokenCreate  = "token.create"
	ActionTokenRevoke  = "token.revoke"
	ActionSignIn       = "signin"
	ActionSignInFailed = "signin.failed"
)

// Actor is who acted: a user through a token or a sign-in, or an operator
// through the admin CLI.
type Actor struct {
	UserID  string `json:"user_id,omitempty"`
	User    string `json:"user,omitempty"`
	TokenID string `json:"token_id,omitempty"` // the token's public id, never its secret
	Method  string `json:"method,omitempty"`   // token, oidc, device, ci, cli
}

// Event is one audit record.
type Event struct {
	ID         string            `json:"id"`
	Time       time.Time         `json:"time"`
	Action     string            `json:"action"`
	Outcome    string            `json:"outcome"` // success (default) or failure
	Org        string            `json:"org,omitempty"`
	Resource   string            `json:"resource,omitempty"` // e.g. "token/0123abcd…", "user/bob", "acme/foo@1.0.0"
	Actor      Actor             `json:"actor"`
	ClientAddr string            `json:"client_addr,omitempty"`
	UserAgent  string            `json:"user_agent,omitempty"`
	RequestID  string            `json:"request_id,omitempty"`
	Details    map[string]string `json:"details,omitempty"`
}

// Recorder stores audit events.
type Recorder interface {
	// Record stores e after filling its time, outcome, actor and request
	// fields from ctx where e leaves them empty.
	Record(ctx context.Context, e Event) error
}

// Request is what the server knows about the request being served.
type Request struct {
	ID         string
	ClientAddr string // the client's IP address (the proxy's unless proxy headers are trusted)
	UserAgent  string
}

type requestKey struct{}
type actorKey struct{}

// WithRequest returns a context carrying the request's metadata.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// RequestFrom returns the request metadata in ctx, if any.
func RequestFrom(ctx context.Context) (Request, bool) {
	r, ok := ctx.Value(requestKey{}).(Request)
	return r, ok
}

// WithActor returns a context naming the actor of what follows.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor in ctx, if any.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// Fill completes e from ctx and now: what e already says wins.
func Fill(ctx context.Context, e Event, now time.Time) Event {
	if e.Time.IsZero() {
		e.Time = now
	}
	if e.Outcome == "" {
		e.Outcome = Success
	}
	if e.Actor == (Actor{}) {
		if a, ok := ActorFrom(ctx); ok {
			e.Actor = a
		}
	}
	if r, ok := RequestFrom(ctx); ok {
		if e.ClientAddr == "" {
			e.ClientAddr = r.ClientAddr
		}
		if e.UserAgent == "" {
			e.UserAgent = r.UserAgent
		}
		if e.RequestID == "" {
			e.RequestID = r.ID
		}
	}
	return e
}

// Discard is a Recorder that stores nothing (for tests of other packages).
type Discard struct{}

var _ Recorder = Discard{}

// Record implements Recorder.
func (Discard) Record(context.Context, Event) error { return nil }
