// Package auth is packyard's identity and policy: it implements the
// contracts of pkg/access. Who is calling: TokenAuthenticator and Chain turn
// a request into an access.Principal, and NewMiddleware runs them (with
// rate limits and audit records of failed sign-ins) before every handler.
// What they may do: Policy, the access.Authorizer checked on every route.
// Service performs the administrative changes to organizations, users,
// memberships and tokens. Sub-packages: identity (OIDC sign-in, device flow,
// CI token exchange) and ratelimit (the Guard).
//
// Tokens belong to a user and are limited to one organization and a scope
// (read, write, admin). Organizations are private unless marked public;
// anonymous callers may only read public organizations. A private resource
// of an organization the caller cannot read answers NotFound, so names do
// not leak.
package auth
