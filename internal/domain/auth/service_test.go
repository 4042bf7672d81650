package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/ratelimit"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// The service's rules, called directly on both databases: one migrated
// database per dialect, shared by the groups below (each uses its own
// accounts).

const goodPassword = "correct horse battery"

// clock is a settable time source for the rate limits and access tokens.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	st     *store.Store
	svc    *Service
	tokens *Tokens
	clock  *clock
	ip     int
}

func newFixture(t *testing.T, st *store.Store) *fixture {
	c := &clock{t: time.Now()}
	tokens := NewTokens([]byte("a-test-secret-of-thirty-two-bytes!"))
	tokens.now = c.Now
	svc := NewService(st, tokens, c.Now)
	t.Cleanup(svc.Close)
	return &fixture{st: st, svc: svc, tokens: tokens, clock: c}
}

// ctx is a request from an address of its own, so that the per-IP limits
// count only what a case means them to.
func (f *fixture) ctx() context.Context {
	f.ip++
	return ratelimit.WithClientIP(context.Background(), "192.0.2."+itoa(f.ip))
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func (f *fixture) signUp(t *testing.T, email string) *Session {
	t.Helper()
	sess, err := f.svc.SignUp(f.ctx(), email, goodPassword, "Someone")
	if err != nil {
		t.Fatalf("sign up %s: %v", email, err)
	}
	return sess
}

// wantCode fails unless err carries code (and field, when given).
func wantCode(t *testing.T, what string, err error, code apperr.Code, field string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Code != code || (field != "" && e.Field != field) {
		t.Errorf("%s: got %v (%#v), want %s field %q", what, err, e, code, field)
	}
}

func TestService(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		st := storetest.Open(t, d)
		t.Run("sign-up rules", func(t *testing.T) { testSignUpRules(t, newFixture(t, st)) })
		t.Run("log-in", func(t *testing.T) { testLogIn(t, newFixture(t, st)) })
		t.Run("log-in and sign-up limits", func(t *testing.T) { testLimits(t, newFixture(t, st)) })
		t.Run("refresh rotation and reuse", func(t *testing.T) { testRefresh(t, newFixture(t, st)) })
		t.Run("access tokens", func(t *testing.T) { testAccessTokens(t, newFixture(t, st)) })
		t.Run("API keys", func(t *testing.T) { testAPIKeys(t, newFixture(t, st)) })
		t.Run("concurrent refreshes of one token", func(t *testing.T) { testConcurrentRefresh(t, newFixture(t, st)) })
		t.Run("users by id", func(t *testing.T) { testUsers(t, newFixture(t, st)) })
	})
}

func testSignUpRules(t *testing.T, f *fixture) {
	sess, err := f.svc.SignUp(f.ctx(), "  Carol.Smith@Example.COM ", goodPassword, " Carol ")
	storetest.Must(t, err)
	if sess.User.Email != "carol.smith@example.com" || sess.User.Name != "Carol" || sess.AccessToken == "" || sess.RefreshToken == "" {
		t.Fatalf("sign-up: %+v", sess)
	}
	if left := sess.ExpiresAt.Sub(f.clock.Now()); left < 14*time.Minute || left > AccessTokenTTL {
		t.Errorf("access token lasts %v, want 15 minutes", left)
	}
	var hash string
	storetest.Must(t, f.st.DB(context.Background()).Model(&User{}).Where("id = ?", sess.User.ID).Pluck("password_hash", &hash).Error)
	if !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, goodPassword) || !CheckPassword(hash, goodPassword) {
		t.Errorf("password stored as %q", hash)
	}

	for _, tc := range []struct {
		name, email, password, userName string
		code                            apperr.Code
		field                           string
	}{
		{"same e-mail in another case", "CAROL.smith@example.com", "another good password", "Carol 2", apperr.CodeConflict, ""},
		{"password of 9", "dave@example.com", "123456789", "Dave", apperr.CodeBadUserInput, "password"},
		{"empty password", "dave@example.com", "", "Dave", apperr.CodeBadUserInput, "password"},
		{"password of 257", "dave@example.com", strings.Repeat("p", 257), "Dave", apperr.CodeBadUserInput, "password"},
		{"not an e-mail", "not an e-mail", goodPassword, "Dave", apperr.CodeBadUserInput, "email"},
		{"no dot in the domain", "dave@localhost", goodPassword, "Dave", apperr.CodeBadUserInput, "email"},
		{"display-name form", "Dave <dave@example.com>", goodPassword, "Dave", apperr.CodeBadUserInput, "email"},
		{"e-mail of 255", strings.Repeat("d", 243) + "@example.com", goodPassword, "Dave", apperr.CodeBadUserInput, "email"},
		{"blank name", "dave@example.com", goodPassword, "  ", apperr.CodeBadUserInput, "name"},
		{"name of 101", "dave@example.com", goodPassword, strings.Repeat("n", 101), apperr.CodeBadUserInput, "name"},
		{"NUL in the name", "dave@example.com", goodPassword, "Da\x00ve", apperr.CodeBadUserInput, "name"},
		{"invalid UTF-8 in the password", "dave@example.com", "correct horse \xff battery", "Dave", apperr.CodeBadUserInput, "password"},
		{"NUL in the e-mail", "dave\x00@example.com", goodPassword, "Dave", apperr.CodeBadUserInput, "email"},
	} {
		_, err := f.svc.SignUp(f.ctx(), tc.email, tc.password, tc.userName)
		wantCode(t, tc.name, err, tc.code, tc.field)
	}
	// Every problem at once, so that a form can mark them all.
	_, err = f.svc.SignUp(f.ctx(), "nope", "short", "")
	if e, ok := apperr.As(err); !ok || len(e.Problems) != 3 {
		t.Errorf("three bad fields: %#v, want three problems", err)
	}
	// The bounds themselves are accepted.
	_, err = f.svc.SignUp(f.ctx(), "erin@example.com", "1234567890", strings.Repeat("n", 100))
	storetest.Must(t, err)
	var n int64
	storetest.Must(t, f.st.DB(context.Background()).Model(&User{}).Where("email LIKE ?", "dave%").Count(&n).Error)
	if n != 0 {
		t.Errorf("%d refused sign-ups left a user", n)
	}
}

func testLogIn(t *testing.T, f *fixture) {
	alice := f.signUp(t, "alice@example.com")
	for _, email := range []string{"alice@example.com", "  ALICE@Example.com "} {
		sess, err := f.svc.LogIn(f.ctx(), email, goodPassword)
		storetest.Must(t, err)
		if sess.User.ID != alice.User.ID || sess.RefreshToken == alice.RefreshToken {
			t.Errorf("log-in as %q: %+v", email, sess)
		}
	}
	_, wrongPassword := f.svc.LogIn(f.ctx(), "alice@example.com", "wrong horse battery")
	_, unknown := f.svc.LogIn(f.ctx(), "nobody@example.com", goodPassword)
	wantCode(t, "wrong password", wrongPassword, apperr.CodeUnauthenticated, "")
	if wrongPassword == nil || unknown == nil || wrongPassword.Error() != unknown.Error() || apperr.CodeOf(unknown) != apperr.CodeUnauthenticated {
		t.Errorf("wrong password %v and unknown e-mail %v must answer the same", wrongPassword, unknown)
	}
	_, err := f.svc.LogIn(f.ctx(), "alice@example.com", "correct\x00horse")
	wantCode(t, "NUL in the password", err, apperr.CodeBadUserInput, "password")
	_, err = f.svc.LogIn(f.ctx(), "alice@\xfeexample.com", goodPassword)
	wantCode(t, "invalid UTF-8 in the e-mail", err, apperr.CodeBadUserInput, "email")
}

// The clock stands still, so the counts hold however slowly the passwords
// hash; moving it by the wait a refusal names gives a token back.
func testLimits(t *testing.T, f *fixture) {
	retryAfter := func(what string, err error) time.Duration {
		t.Helper()
		wantCode(t, what, err, apperr.CodeRateLimited, "")
		e, _ := apperr.As(err)
		if e == nil || e.RetryAfter <= 0 {
			t.Fatalf("%s: RATE_LIMITED without a wait: %#v", what, err)
		}
		return e.RetryAfter
	}
	f.signUp(t, "bob@example.com")
	f.signUp(t, "carl@example.com")
	// Five guesses at one account, then even the right password waits,
	// whatever the case of the e-mail.
	home := ratelimit.WithClientIP(context.Background(), "192.0.2.250")
	for i := range 5 {
		_, err := f.svc.LogIn(home, "bob@example.com", "wrong password "+itoa(i))
		wantCode(t, "guess "+itoa(i+1), err, apperr.CodeUnauthenticated, "")
	}
	_, err := f.svc.LogIn(home, " BOB@example.com", goodPassword)
	wait := retryAfter("right password after five guesses", err)
	// Another account from the same address is not affected.
	_, err = f.svc.LogIn(home, "carl@example.com", goodPassword)
	storetest.Must(t, err)
	// After the wait one more attempt passes, and the next waits again.
	f.clock.Add(wait)
	_, err = f.svc.LogIn(home, "bob@example.com", "wrong password again")
	wantCode(t, "guess after the wait", err, apperr.CodeUnauthenticated, "")
	_, err = f.svc.LogIn(home, "bob@example.com", goodPassword)
	retryAfter("second attempt after the wait", err)

	// Twenty log-ins from one address, then the next waits.
	ip := ratelimit.WithClientIP(context.Background(), "198.51.100.7")
	for i := range 20 {
		_, err := f.svc.LogIn(ip, "someone"+itoa(i)+"@example.com", "x")
		wantCode(t, "log-in "+itoa(i+1)+" from one address", err, apperr.CodeUnauthenticated, "")
	}
	_, err = f.svc.LogIn(ip, "someone-else@example.com", "x")
	retryAfter("log-in 21 from one address", err)

	// Ten sign-ups from one address, then the next waits; a refused
	// sign-up (bad input) costs nothing, and a limited one creates nothing.
	office := ratelimit.WithClientIP(context.Background(), "198.51.100.8")
	_, err = f.svc.SignUp(office, "bad", goodPassword, "x")
	wantCode(t, "bad sign-up", err, apperr.CodeBadUserInput, "email")
	for i := range 10 {
		_, err := f.svc.SignUp(office, "member"+itoa(i)+"@example.com", goodPassword, "Member")
		storetest.Must(t, err)
	}
	_, err = f.svc.SignUp(office, "member10@example.com", goodPassword, "Member")
	wait = retryAfter("eleventh sign-up from one address", err)
	_, err = f.svc.LogIn(f.ctx(), "member10@example.com", goodPassword)
	wantCode(t, "log-in of the limited sign-up", err, apperr.CodeUnauthenticated, "")
	// Another address is not affected; after the wait the sign-up goes through.
	f.signUp(t, "elsewhere@example.com")
	f.clock.Add(wait)
	_, err = f.svc.SignUp(office, "member10@example.com", goodPassword, "Member")
	storetest.Must(t, err)
}

func testRefresh(t *testing.T, f *fixture) {
	ctx := context.Background()
	alice := f.signUp(t, "alice.r@example.com")
	other, err := f.svc.LogIn(f.ctx(), "alice.r@example.com", goodPassword) // a second session, which reuse must not touch
	storetest.Must(t, err)
	refresh := func(secret string) *Session {
		t.Helper()
		sess, err := f.svc.Refresh(ctx, secret)
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		return sess
	}
	second := refresh(alice.RefreshToken)
	if second.RefreshToken == alice.RefreshToken || second.User.ID != alice.User.ID || second.AccessToken == "" {
		t.Fatalf("refresh did not rotate: %+v", second)
	}
	third := refresh(second.RefreshToken)

	// Within RefreshGrace a spent token still refreshes (two tabs at
	// once); past it, the first token again is stolen or replayed. The
	// whole family goes, the newest token included.
	storetest.Must(t, f.st.DB(ctx).Model(&RefreshToken{}).Where("used_at IS NOT NULL").
		Update("used_at", store.Now().Add(-RefreshGrace-time.Second)).Error)
	for _, tc := range []struct{ name, secret string }{
		{"reused token", alice.RefreshToken},
		{"newest token of a revoked family", third.RefreshToken},
		{"used token of a revoked family", second.RefreshToken},
		{"unknown token", "not-a-token"},
		{"access token", alice.AccessToken},
	} {
		_, err := f.svc.Refresh(ctx, tc.secret)
		wantCode(t, tc.name, err, apperr.CodeUnauthenticated, "")
	}
	var live int64
	storetest.Must(t, f.st.DB(ctx).Model(&RefreshToken{}).Where("user_id = ? AND revoked_at IS NULL", alice.User.ID).Count(&live).Error)
	if live != 1 {
		t.Errorf("%d unrevoked tokens after the reuse, want the other session's one", live)
	}
	other = refresh(other.RefreshToken)

	// An expired token is refused, and does not revoke its family.
	storetest.Must(t, f.st.DB(ctx).Model(&RefreshToken{}).Where("token_hash = ?", HashToken(other.RefreshToken)).
		Update("expires_at", store.Now().Add(-time.Second)).Error)
	_, err = f.svc.Refresh(ctx, other.RefreshToken)
	wantCode(t, "expired token", err, apperr.CodeUnauthenticated, "")

	// Log-out revokes the session; twice, or with an unknown token, is fine.
	s, err := f.svc.LogIn(f.ctx(), "alice.r@example.com", goodPassword)
	storetest.Must(t, err)
	s = refresh(s.RefreshToken)
	storetest.Must(t, f.svc.LogOut(ctx, s.RefreshToken))
	_, err = f.svc.Refresh(ctx, s.RefreshToken)
	wantCode(t, "refresh after log-out", err, apperr.CodeUnauthenticated, "")
	storetest.Must(t, f.svc.LogOut(ctx, s.RefreshToken))
	storetest.Must(t, f.svc.LogOut(ctx, "unknown"))

	_, err = f.svc.Refresh(ctx, "tok\x00en")
	wantCode(t, "NUL in a refresh token", err, apperr.CodeBadUserInput, "refreshToken")
	wantCode(t, "invalid UTF-8 in a log-out", f.svc.LogOut(ctx, "\xc3\x28"), apperr.CodeBadUserInput, "refreshToken")
}

// Two refreshes of one token at the same moment (two tabs of one
// dashboard): both continue the session, within RefreshGrace, and neither
// revokes it.
func testConcurrentRefresh(t *testing.T, f *fixture) {
	ctx := context.Background()
	sess := f.signUp(t, "twice@example.com")
	start := make(chan struct{})
	errs := make([]error, 2)
	next := make([]*Session, 2)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			<-start
			next[i], errs[i] = f.svc.Refresh(ctx, sess.RefreshToken)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("refresh %d of two at once: %v, want both to continue the session", i, err)
		}
	}
	for i, s := range next {
		if _, err := f.svc.Refresh(ctx, s.RefreshToken); err != nil {
			t.Errorf("the token refresh %d received: %v", i, err)
		}
	}
}

func testAccessTokens(t *testing.T, f *fixture) {
	ctx := context.Background()
	sess := f.signUp(t, "tokens@example.com")
	p, err := f.svc.Authenticate(ctx, sess.AccessToken)
	storetest.Must(t, err)
	if p.UserID != sess.User.ID || p.APIKey != nil || !p.ExpiresAt.Equal(sess.ExpiresAt) {
		t.Fatalf("principal %+v for %+v", p, sess)
	}
	other := NewTokens([]byte("another-secret-another-secret-0123"))
	forged, _, err := other.Issue(sess.User.ID)
	storetest.Must(t, err)
	for _, tc := range []struct {
		name   string
		bearer string
		after  time.Duration // how long after issue it is presented
		ok     bool
	}{
		{"fresh", sess.AccessToken, 0, true},
		{"expired 10 s ago, within the skew", sess.AccessToken, AccessTokenTTL + 10*time.Second, true},
		{"expired 45 s ago, beyond the skew", sess.AccessToken, AccessTokenTTL + 45*time.Second, false},
		{"signed with another secret", forged, 0, false},
		{"garbage", "not.a.jwt", 0, false},
		{"refresh token", sess.RefreshToken, 0, false},
		{"unknown write key", WriteKeyPrefix + "nothing", 0, false},
		{"unknown read key", ReadKeyPrefix + "nothing", 0, false},
	} {
		c := &clock{t: f.clock.Now().Add(tc.after)}
		f.tokens.now = c.Now
		_, err := f.svc.Authenticate(ctx, tc.bearer)
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.ok:
			wantCode(t, tc.name, err, apperr.CodeUnauthenticated, "")
		}
	}
	f.tokens.now = f.clock.Now
	_, err = f.svc.Authenticate(ctx, "otw_\x00")
	wantCode(t, "NUL in a credential", err, apperr.CodeBadUserInput, "authorization")

	// Require and RequireUser read what authentication left in the context.
	if _, err := Require(ctx); apperr.CodeOf(err) != apperr.CodeUnauthenticated {
		t.Errorf("anonymous Require: %v", err)
	}
	bad := WithPrincipal(ctx, nil, ErrBadAuthorizationHeader)
	if _, err := Require(bad); !errors.Is(err, ErrBadAuthorizationHeader) {
		t.Errorf("Require after a bad header: %v", err)
	}
	if id, err := RequireUser(WithPrincipal(ctx, p, nil)); err != nil || id != sess.User.ID {
		t.Errorf("RequireUser: %q %v", id, err)
	}
	key := &Principal{APIKey: &KeyPrincipal{ID: "k", ProjectID: "p", Scope: ScopeWrite}}
	if _, err := RequireUser(WithPrincipal(ctx, key, nil)); apperr.CodeOf(err) != apperr.CodeForbidden {
		t.Errorf("RequireUser with a key: %v", err)
	}
}

func testAPIKeys(t *testing.T, f *fixture) {
	ctx := context.Background()
	db := f.st.DB(ctx)
	projectID := store.NewID()
	storetest.Must(t, db.Exec("INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)", projectID, "Keys", store.Now()).Error)
	newKey := func(scope Scope, prefix string) (APIKey, string) {
		t.Helper()
		secret := prefix + RandomToken(24)
		k := APIKey{ID: store.NewID(), ProjectID: projectID, Name: "deploy", Scope: scope, Prefix: secret[:8],
			SecretHash: HashToken(secret), CreatedAt: store.Now()}
		storetest.Must(t, db.Create(&k).Error)
		return k, secret
	}
	write, writeSecret := newKey(ScopeWrite, WriteKeyPrefix)
	read, readSecret := newKey(ScopeRead, ReadKeyPrefix)
	revoked, revokedSecret := newKey(ScopeWrite, WriteKeyPrefix)
	storetest.Must(t, db.Model(&APIKey{}).Where("id = ?", revoked.ID).Update("revoked_at", store.Now()).Error)

	for _, tc := range []struct {
		name   string
		secret string
		want   *KeyPrincipal
	}{
		{"WRITE key", writeSecret, &KeyPrincipal{ID: write.ID, ProjectID: projectID, Scope: ScopeWrite}},
		{"READ key", readSecret, &KeyPrincipal{ID: read.ID, ProjectID: projectID, Scope: ScopeRead}},
		{"revoked key", revokedSecret, nil},
		{"a key's secret, one character changed", writeSecret[:len(writeSecret)-1] + "!", nil},
		{"a READ key's secret under the WRITE prefix", WriteKeyPrefix + strings.TrimPrefix(readSecret, ReadKeyPrefix), nil},
	} {
		p, err := f.svc.Authenticate(ctx, tc.secret)
		if tc.want == nil {
			wantCode(t, tc.name, err, apperr.CodeUnauthenticated, "")
			continue
		}
		if err != nil || p.APIKey == nil || *p.APIKey != *tc.want || p.UserID != "" {
			t.Errorf("%s: %+v %v, want %+v", tc.name, p, err, tc.want)
		}
	}

	// lastUsedAt moves at most once a minute, stamped in the background.
	lastUsed := func() time.Time {
		t.Helper()
		f.svc.stamps.wait()
		var k APIKey
		storetest.Must(t, db.Where("id = ?", write.ID).Take(&k).Error)
		if k.LastUsedAt == nil {
			t.Fatal("lastUsedAt not stamped")
		}
		return *k.LastUsedAt
	}
	first := lastUsed()
	_, err := f.svc.Authenticate(ctx, writeSecret)
	storetest.Must(t, err)
	if again := lastUsed(); !again.Equal(first) {
		t.Errorf("lastUsedAt moved within a minute: %v → %v", first, again)
	}
	storetest.Must(t, db.Model(&APIKey{}).Where("id = ?", write.ID).Update("last_used_at", first.Add(-2*time.Minute)).Error)
	f.svc.ForgetKey(write.ID) // the row changed behind the instance's cache
	_, err = f.svc.Authenticate(ctx, writeSecret)
	storetest.Must(t, err)
	if again := lastUsed(); !again.After(first.Add(-time.Minute)) {
		t.Errorf("lastUsedAt not stamped after two minutes: %v", again)
	}

	for id, want := range map[string]bool{write.ID: true, read.ID: true, revoked.ID: false, store.NewID(): false} {
		if got, err := f.svc.KeyActive(ctx, id); err != nil || got != want {
			t.Errorf("KeyActive(%s) = %v %v, want %v", id, got, err, want)
		}
	}
	_, err = f.svc.KeyActive(ctx, "\xff")
	wantCode(t, "invalid UTF-8 key id", err, apperr.CodeBadUserInput, "keyId")
}

// Users and User read accounts by id.
func testUsers(t *testing.T, f *fixture) {
	ctx := context.Background()
	a, b := f.signUp(t, "a@example.com"), f.signUp(t, "b@example.com")
	got, err := f.svc.Users(ctx, []string{a.User.ID, b.User.ID, store.NewID()})
	storetest.Must(t, err)
	if len(got) != 2 || got[a.User.ID].Email != "a@example.com" || got[b.User.ID].Email != "b@example.com" {
		t.Errorf("Users: %+v", got)
	}
	if u, err := f.svc.User(ctx, a.User.ID); err != nil || u.Email != "a@example.com" {
		t.Errorf("User: %+v %v", u, err)
	}
	_, err = f.svc.User(ctx, store.NewID())
	wantCode(t, "unknown user", err, apperr.CodeNotFound, "")
	_, err = f.svc.Users(ctx, []string{"a\x00"})
	wantCode(t, "NUL in an id", err, apperr.CodeBadUserInput, "id")
}
