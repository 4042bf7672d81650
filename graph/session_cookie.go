package graph

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/platform/apperr"
)

// Browser dashboards may keep the refresh token in an httpOnly cookie,
// out of reach of the page's scripts. They opt in per request with the
// header SessionHeader: SessionCookieMode. Then signUp, logIn and
// refreshSession set the cookie and return an empty refreshToken;
// refreshSession and logOut with an empty refreshToken use the cookie's;
// logOut clears it. The cookie is read only on a request that carries the
// header, which a page of another site cannot send without a CORS
// preflight that only OTTR_CORS_ORIGINS pass, and it is SameSite=Strict:
// a cookie alone never authorises anything. It never authenticates a
// request either: the access token still goes in Authorization.
const (
	SessionHeader     = "X-Ottr-Session"
	SessionCookieMode = "cookie"
	// SessionCookieName is the cookie's name; SessionCookiePath the only
	// path the browser sends it to.
	SessionCookieName = "ottr_refresh"
	SessionCookiePath = "/query"
)

type sessionCookieKey struct{}

// sessionCookie is a cookie-mode request's cookie: the one it came with
// and the one its answer sets.
type sessionCookie struct {
	secure bool
	in     string

	mu  sync.Mutex
	out *http.Cookie
}

// sessionCookieFrom returns the request's cookie session when it opted in.
func sessionCookieFrom(ctx context.Context) *sessionCookie {
	c, _ := ctx.Value(sessionCookieKey{}).(*sessionCookie)
	return c
}

func (c *sessionCookie) set(secret string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = &http.Cookie{Name: SessionCookieName, Value: secret, Path: SessionCookiePath,
		MaxAge: int(auth.RefreshTokenTTL / time.Second), HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteStrictMode}
}

func (c *sessionCookie) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = &http.Cookie{Name: SessionCookieName, Value: "", Path: SessionCookiePath,
		MaxAge: -1, HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteStrictMode}
}

// token is the refresh token a mutation works with: the argument, or in
// cookie mode, when the argument is empty, the cookie's.
func (c *sessionCookie) token(arg string) (string, error) {
	if arg != "" || c == nil {
		return arg, nil
	}
	if c.in == "" {
		return "", apperr.Unauthenticated("no refresh token: the session cookie is missing")
	}
	return c.in, nil
}

// withSessionCookies gives POST requests that send SessionHeader:
// SessionCookieMode their cookie session, and adds the cookie it sets to
// the answer (gqlgen writes the status after the operation ran).
func withSessionCookies(secure bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.EqualFold(strings.TrimSpace(r.Header.Get(SessionHeader)), SessionCookieMode) {
			next.ServeHTTP(w, r)
			return
		}
		c := &sessionCookie{secure: secure}
		if in, err := r.Cookie(SessionCookieName); err == nil {
			c.in = in.Value
		}
		ctx := context.WithValue(r.Context(), sessionCookieKey{}, c)
		next.ServeHTTP(&sessionCookieWriter{ResponseWriter: w, c: c}, r.WithContext(ctx))
	})
}

type sessionCookieWriter struct {
	http.ResponseWriter
	c       *sessionCookie
	written bool
}

func (w *sessionCookieWriter) WriteHeader(status int) {
	if !w.written {
		w.written = true
		w.c.mu.Lock()
		if out := w.c.out; out != nil {
			http.SetCookie(w.ResponseWriter, out)
			w.Header().Add("Cache-Control", "no-store")
		}
		w.c.mu.Unlock()
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *sessionCookieWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *sessionCookieWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// cookieSession returns the payload of a new session, moving its refresh
// token into the cookie in cookie mode.
func cookieSession(ctx context.Context, sess *auth.Session) *auth.Session {
	if c := sessionCookieFrom(ctx); c != nil {
		c.set(sess.RefreshToken)
		cp := *sess
		cp.RefreshToken = ""
		return &cp
	}
	return sess
}
