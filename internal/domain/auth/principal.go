// Package auth owns users, passwords, access tokens (JWT), refresh tokens and
// the authentication of API keys, and carries the authenticated principal in
// the request context.
package auth

import (
	"context"
	"time"

	"github.com/ottr/backend/internal/platform/apperr"
)

// Scope is an API key's scope.
type Scope string

const (
	ScopeRead  Scope = "READ"
	ScopeWrite Scope = "WRITE"
)

// Principal is who makes a request: a signed-in user, or an API key of one
// project.
type Principal struct {
	UserID    string
	APIKey    *KeyPrincipal
	ExpiresAt time.Time // when a user's access token expires; zero for keys
}

// KeyPrincipal is an API key acting for its project.
type KeyPrincipal struct {
	ID        string
	ProjectID string
	Scope     Scope
}

type principalKey struct{}

type authResult struct {
	p   *Principal
	err error
}

// WithPrincipal stores the result of authenticating a request: a principal,
// an error for bad credentials, or neither for an anonymous request. The
// error surfaces only where authentication is required, so public
// operations keep working for a client holding a stale token.
func WithPrincipal(ctx context.Context, p *Principal, err error) context.Context {
	return context.WithValue(ctx, principalKey{}, authResult{p: p, err: err})
}

// Require returns the request's principal, or UNAUTHENTICATED.
func Require(ctx context.Context) (*Principal, error) {
	r, _ := ctx.Value(principalKey{}).(authResult)
	if r.err != nil {
		return nil, r.err
	}
	if r.p == nil {
		return nil, apperr.Unauthenticated("")
	}
	return r.p, nil
}

// RequireUser returns the signed-in user's id. API keys act for a project,
// not for a person, so they are refused with FORBIDDEN.
func RequireUser(ctx context.Context) (string, error) {
	p, err := Require(ctx)
	if err != nil {
		return "", err
	}
	if p.APIKey != nil {
		return "", apperr.Forbidden("API keys cannot do this; sign in as a user")
	}
	return p.UserID, nil
}

// ErrBadAuthorizationHeader is reported for an Authorization header that is
// not "Bearer <credential>".
var ErrBadAuthorizationHeader = apperr.Unauthenticated(`the Authorization header must be "Bearer <access token or API key>"`)
