package e2e_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

const (
	signUpMutation  = `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken refreshToken expiresAt user { id email name } } }`
	logInMutation   = `mutation($i: LogInInput!) { logIn(input: $i) { accessToken refreshToken expiresAt user { id email } } }`
	refreshMutation = `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken user { id } } }`
	logOutMutation  = `mutation($t: String!) { logOut(refreshToken: $t) }`
	meQuery         = `{ me { id email } }`
)

type authPayload struct {
	AccessToken, RefreshToken string
	ExpiresAt                 time.Time
	User                      struct{ ID, Email, Name string }
}

func signUpVars(email, password, name string) map[string]any {
	return map[string]any{"i": map[string]any{"email": email, "password": password, "name": name}}
}

func logInVars(email, password string) map[string]any {
	return map[string]any{"i": map[string]any{"email": email, "password": password}}
}

func TestSignUp(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		anon := srv.Client("")

		var out struct{ SignUp authPayload }
		anon.MustDo(signUpMutation, signUpVars("  Carol.Smith@Example.COM ", "correct horse battery", " Carol "), &out)
		u := out.SignUp
		if u.User.Email != "carol.smith@example.com" || u.User.Name != "Carol" {
			t.Fatalf("e-mail or name not normalised: %+v", u.User)
		}
		if u.AccessToken == "" || u.RefreshToken == "" {
			t.Fatal("sign-up returned no session")
		}
		if left := time.Until(u.ExpiresAt); left < 14*time.Minute || left > 15*time.Minute+time.Second {
			t.Fatalf("access token expires in %v, want 15 minutes", left)
		}
		var me struct{ Me struct{ ID, Email string } }
		srv.Client(u.AccessToken).MustDo(meQuery, nil, &me)
		if me.Me.ID != u.User.ID || me.Me.Email != "carol.smith@example.com" {
			t.Fatalf("me = %+v", me.Me)
		}

		e := anon.ErrorCode(signUpMutation, signUpVars("CAROL.smith@example.com", "another good password", "Carol 2"))
		if e.Code() != "CONFLICT" {
			t.Fatalf("duplicate e-mail (other case): %s %q, want CONFLICT", e.Code(), e.Message)
		}
		for _, tc := range []struct{ email, password, name, field string }{
			{"dave@example.com", "123456789", "Dave", "password"},
			{"dave@example.com", "", "Dave", "password"},
			{"not an e-mail", "correct horse battery", "Dave", "email"},
			{"dave@localhost", "correct horse battery", "Dave", "email"},
			{"dave@example.com", "correct horse battery", "  ", "name"},
		} {
			e := anon.ErrorCode(signUpMutation, signUpVars(tc.email, tc.password, tc.name))
			if e.Code() != "BAD_USER_INPUT" || e.Field() != tc.field {
				t.Errorf("sign-up %q/%q/%q: %s field %q, want BAD_USER_INPUT field %s", tc.email, tc.password, tc.name, e.Code(), e.Field(), tc.field)
			}
		}
		// A 10-character password is long enough.
		anon.MustDo(signUpMutation, signUpVars("erin@example.com", "1234567890", "Erin"), nil)

		// The password is stored hashed with argon2id, never in clear.
		var hash string
		storetest.Must(t, srv.App.Store.SQL().QueryRow("SELECT password_hash FROM users WHERE id = "+placeholder(d), u.User.ID).Scan(&hash))
		if !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, "correct horse battery") {
			t.Fatalf("password stored as %q", hash)
		}
	})
}

func TestLogIn(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		anon := srv.Client("")
		alice := srv.SignUp("Alice")

		var out struct{ LogIn authPayload }
		anon.MustDo(logInMutation, logInVars(" "+strings.ToUpper(alice.Email)+" ", "correct horse battery"), &out)
		if out.LogIn.User.ID != alice.ID || out.LogIn.AccessToken == "" || out.LogIn.RefreshToken == alice.RefreshToken {
			t.Fatalf("log-in: %+v", out.LogIn)
		}
		srv.Client(out.LogIn.AccessToken).MustDo(meQuery, nil, nil)

		wrongPassword := anon.ErrorCode(logInMutation, logInVars(alice.Email, "wrong horse battery"))
		wrongEmail := anon.ErrorCode(logInMutation, logInVars("nobody@example.com", "correct horse battery"))
		if wrongPassword.Code() != "UNAUTHENTICATED" || wrongPassword.Message != wrongEmail.Message || wrongPassword.Code() != wrongEmail.Code() {
			t.Fatalf("wrong password: %s %q; wrong e-mail: %s %q; want the same UNAUTHENTICATED",
				wrongPassword.Code(), wrongPassword.Message, wrongEmail.Code(), wrongEmail.Message)
		}
	})
}

// The contract of refreshSession and logOut over GraphQL: a refresh
// rotates, a reused token answers UNAUTHENTICATED, logOut answers true and
// ends the session. The rotation chain's rules (the whole family revoked,
// other sessions untouched, expiry, concurrent refreshes) are checked in
// internal/domain/auth.
func TestRefreshRotatesAndReuseRevokesTheFamily(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		anon := srv.Client("")
		alice := srv.SignUp("Alice")
		refresh := func(token string) authPayload {
			t.Helper()
			var out struct{ RefreshSession authPayload }
			anon.MustDo(refreshMutation, map[string]any{"t": token}, &out)
			return out.RefreshSession
		}
		refused := func(token, why string) {
			t.Helper()
			if e := anon.ErrorCode(refreshMutation, map[string]any{"t": token}); e.Code() != "UNAUTHENTICATED" {
				t.Fatalf("%s: %s, want UNAUTHENTICATED", why, e.Code())
			}
		}

		second := refresh(alice.RefreshToken)
		if second.RefreshToken == alice.RefreshToken || second.User.ID != alice.ID {
			t.Fatalf("refresh did not rotate: %+v", second)
		}
		srv.Client(second.AccessToken).MustDo(meQuery, nil, nil)
		third := refresh(second.RefreshToken)

		// Within the grace window a spent token still refreshes (two tabs
		// at once); past it, the first token again: stolen or replayed. The whole family goes,
		// including the newest token.
		ageSpentRefreshTokens(t, srv)
		refused(alice.RefreshToken, "reused refresh token")
		refused(third.RefreshToken, "newest token of a revoked family")
		refused(second.RefreshToken, "used token of a revoked family")
		refused("not-a-token", "unknown token")

		// Log-out of a fresh session.
		var in struct{ LogIn authPayload }
		anon.MustDo(logInMutation, logInVars(alice.Email, "correct horse battery"), &in)
		var logOut struct{ LogOut bool }
		anon.MustDo(logOutMutation, map[string]any{"t": in.LogIn.RefreshToken}, &logOut)
		if !logOut.LogOut {
			t.Fatal("logOut returned false")
		}
		refused(in.LogIn.RefreshToken, "refresh after log-out")
		// Logging out twice, or with an unknown token, is not an error.
		anon.MustDo(logOutMutation, map[string]any{"t": in.LogIn.RefreshToken}, nil)
		anon.MustDo(logOutMutation, map[string]any{"t": "unknown"}, nil)
	})
}

func TestTamperedAccessTokensAreRefused(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		alice := srv.SignUp("Alice")
		secret := srv.App.Config.JWTSecret

		// The claims of a real token, to change one thing at a time.
		claimsOf := func() jwt.MapClaims {
			claims := jwt.MapClaims{}
			if _, _, err := jwt.NewParser().ParseUnverified(alice.AccessToken, claims); err != nil {
				t.Fatal(err)
			}
			return claims
		}
		sign := func(method jwt.SigningMethod, key any, change func(jwt.MapClaims)) string {
			claims := claimsOf()
			change(claims)
			s, err := jwt.NewWithClaims(method, claims).SignedString(key)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		hs256 := func(change func(jwt.MapClaims)) string { return sign(jwt.SigningMethodHS256, secret, change) }
		unchanged := func(jwt.MapClaims) {}
		now := time.Now()
		expiresAt := func(at time.Time) func(jwt.MapClaims) {
			return func(c jwt.MapClaims) {
				c["exp"] = at.Unix()
				c["iat"] = at.Add(-15 * time.Minute).Unix()
				c["nbf"] = at.Add(-15 * time.Minute).Unix()
			}
		}

		parts := strings.Split(alice.AccessToken, ".")
		flipped := []byte(parts[2])
		flipped[len(flipped)/2] ^= 1
		if flipped[len(flipped)/2] == '-' || flipped[len(flipped)/2] == '_' {
			flipped[len(flipped)/2] = 'A'
		}
		none := sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, unchanged)

		for name, token := range map[string]string{
			"bad signature":        parts[0] + "." + parts[1] + "." + string(flipped),
			"other secret":         sign(jwt.SigningMethodHS256, []byte("another-secret-another-secret-0123"), unchanged),
			"alg none":             none,
			"alg none, no dot":     strings.TrimSuffix(none, "."),
			"HS512 with our key":   sign(jwt.SigningMethodHS512, secret, unchanged),
			"RS256":                sign(jwt.SigningMethodRS256, rsaKey, unchanged),
			"expired beyond skew":  hs256(expiresAt(now.Add(-45 * time.Second))),
			"wrong audience":       hs256(func(c jwt.MapClaims) { c["aud"] = []string{"another-api"} }),
			"no audience":          hs256(func(c jwt.MapClaims) { delete(c, "aud") }),
			"wrong issuer":         hs256(func(c jwt.MapClaims) { c["iss"] = "someone-else" }),
			"no expiry":            hs256(func(c jwt.MapClaims) { delete(c, "exp") }),
			"no subject":           hs256(func(c jwt.MapClaims) { delete(c, "sub") }),
			"not yet valid":        hs256(func(c jwt.MapClaims) { c["nbf"] = now.Add(5 * time.Minute).Unix() }),
			"garbage":              "not.a.jwt",
			"payload of another":   parts[0] + "." + strings.Split(hs256(func(c jwt.MapClaims) { c["sub"] = "someone" }), ".")[1] + "." + parts[2],
			"refresh token as JWT": alice.RefreshToken,
		} {
			if e := srv.Client(token).ErrorCode(meQuery, nil); e.Code() != "UNAUTHENTICATED" {
				t.Errorf("%s: %s %q, want UNAUTHENTICATED", name, e.Code(), e.Message)
			}
		}

		for name, token := range map[string]string{
			"re-signed unchanged":           hs256(unchanged),
			"expired 10 s ago, within skew": hs256(expiresAt(now.Add(-10 * time.Second))),
		} {
			var me struct{ Me struct{ ID string } }
			srv.Client(token).MustDo(meQuery, nil, &me)
			if me.Me.ID != alice.ID {
				t.Errorf("%s: me = %q", name, me.Me.ID)
			}
		}

		// A malformed Authorization header is UNAUTHENTICATED too.
		c := srv.Client("")
		c.Header.Set("Authorization", "Basic "+alice.AccessToken)
		if e := c.ErrorCode(meQuery, nil); e.Code() != "UNAUTHENTICATED" {
			t.Errorf("Basic scheme: %s", e.Code())
		}
	})
}

// TestSignUpAndLogInAreRateLimited is the contract of the log-in limits
// per client address over HTTP: RATE_LIMITED with retryAfterSeconds, and
// which address counts behind a proxy. The counts per e-mail, per address
// and for sign-ups are checked in internal/domain/auth.
func TestSignUpAndLogInAreRateLimited(t *testing.T) {
	t.Parallel()
	// Each server's clock stands still, so that the counts below hold
	// however slowly a loaded machine hashes the passwords; the test moves
	// the clock to let a token come back.
	frozen := func(t *testing.T, d store.Dialect, opts ...testserver.Option) (*testserver.Server, *testserver.Clock) {
		clock := &testserver.Clock{}
		clock.Freeze()
		return testserver.Start(t, d, append(opts, testserver.WithClock(clock))...), clock
	}
	// exactlyLimited makes burst attempts that must pass the limit (and
	// fail on the password), then one that the limit refuses.
	exactlyLimited := func(t *testing.T, c *testserver.Client, burst int, vars func(i int) map[string]any) testserver.GQLError {
		t.Helper()
		for i := range burst {
			if e := c.ErrorCode(logInMutation, vars(i)); e.Code() != "UNAUTHENTICATED" {
				t.Fatalf("attempt %d of a burst of %d: %s, want UNAUTHENTICATED", i+1, burst, e.Code())
			}
		}
		e := c.ErrorCode(logInMutation, vars(burst))
		if e.Code() != "RATE_LIMITED" {
			t.Fatalf("attempt %d after a burst of %d: %s, want RATE_LIMITED", burst+1, burst, e.Code())
		}
		return e
	}
	retryAfter := func(t *testing.T, e testserver.GQLError) time.Duration {
		t.Helper()
		secs, ok := e.Extensions["retryAfterSeconds"].(float64)
		if !ok || secs < 1 {
			t.Fatalf("retryAfterSeconds = %v, want a positive number", e.Extensions["retryAfterSeconds"])
		}
		return time.Duration(secs) * time.Second
	}
	// refillsOne moves the clock by the wait the refusal named: one attempt
	// passes the limit again, and the next is refused.
	refillsOne := func(t *testing.T, clock *testserver.Clock, c *testserver.Client, wait time.Duration, vars map[string]any) {
		t.Helper()
		clock.Advance(wait)
		if e := c.ErrorCode(logInMutation, vars); e.Code() != "UNAUTHENTICATED" {
			t.Fatalf("after waiting %s: %s, want UNAUTHENTICATED", wait, e.Code())
		}
		if e := c.ErrorCode(logInMutation, vars); e.Code() != "RATE_LIMITED" {
			t.Fatalf("second attempt after waiting %s: %s, want RATE_LIMITED", wait, e.Code())
		}
	}
	guess := func(i int) map[string]any {
		return logInVars("guess"+strings.Repeat("x", i)+"@example.com", "wrong horse battery")
	}

	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		t.Run("per client IP", func(t *testing.T) {
			t.Parallel()
			srv, clock := frozen(t, d)
			c := srv.Client("")
			e := exactlyLimited(t, c, 20, guess)
			wait := retryAfter(t, e)
			// X-Forwarded-For from a peer that is not a trusted proxy is
			// the client's own word: ignored.
			spoof := srv.Client("")
			spoof.Header.Set("X-Forwarded-For", "198.51.100.4")
			if e := spoof.ErrorCode(logInMutation, guess(100)); e.Code() != "RATE_LIMITED" {
				t.Fatalf("a spoofed X-Forwarded-For: %s, want RATE_LIMITED", e.Code())
			}
			refillsOne(t, clock, c, wait, guess(101))
		})
		t.Run("per client behind a trusted proxy", func(t *testing.T) {
			t.Parallel()
			srv, clock := frozen(t, d, func(c *config.Config) {
				c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
			})
			behind := func(client string) *testserver.Client {
				c := srv.Client("")
				c.Header.Set("X-Forwarded-For", client)
				return c
			}
			e := exactlyLimited(t, behind("203.0.113.9"), 20, guess)
			wait := retryAfter(t, e)
			// A client that invents an entry left of the proxy's shares the
			// address the proxy saw: still limited.
			if e := behind("198.51.100.77, 203.0.113.9").ErrorCode(logInMutation, guess(100)); e.Code() != "RATE_LIMITED" {
				t.Fatalf("an invented X-Forwarded-For entry: %s, want RATE_LIMITED", e.Code())
			}
			// Another client behind the same proxy has its own allowance.
			if e := behind("198.51.100.4").ErrorCode(logInMutation, guess(101)); e.Code() != "UNAUTHENTICATED" {
				t.Fatalf("another client behind the proxy: %s, want UNAUTHENTICATED", e.Code())
			}
			refillsOne(t, clock, behind("203.0.113.9"), wait, guess(102))
		})
	})
}

// placeholder is the dialect's bind parameter for raw SQL.
func placeholder(d store.Dialect) string {
	if d == store.Postgres {
		return "$1"
	}
	return "?"
}

// decode fails the test on errors and decodes the data into out.
func decode(t *testing.T, r *testserver.Response, out any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	if err := json.Unmarshal(r.Data, out); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
}
