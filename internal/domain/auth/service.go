package auth

import (
	"context"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/ratelimit"
	"github.com/ottr/backend/internal/platform/store"
)

// RefreshTokenTTL is how long a session lasts without being refreshed.
const RefreshTokenTTL = 30 * 24 * time.Hour

// RefreshGrace is how long after its first use a refresh token still
// refreshes: two tabs of one dashboard that refresh at once both keep the
// session. Each gets a token of the same session; a use later than this
// is a replay and signs the whole session out.
const RefreshGrace = 20 * time.Second

// APIKey prefixes: the scope is visible in the secret.
const (
	WriteKeyPrefix = "otw_"
	ReadKeyPrefix  = "otr_"
)

// Service signs users up and in and authenticates requests.
type Service struct {
	store    *store.Store
	tokens   *Tokens
	loginIP  *ratelimit.Limiter
	loginID  *ratelimit.Limiter
	signUpIP *ratelimit.Limiter
	// keys remembers the API keys read in the last KeyCacheTTL.
	keys *keyCache
	// stamps writes the keys' lastUsedAt off the requests' path.
	stamps *stamper
}

// NewService returns the auth service; its rate limits read the time from
// now (time.Now when nil).
func NewService(s *store.Store, tokens *Tokens, now func() time.Time) *Service {
	svc := &Service{
		store:   s,
		tokens:  tokens,
		loginIP: ratelimit.NewWithClock(3*time.Second, 20, now), // a person, even a forgetful one, stays far below
		loginID: ratelimit.NewWithClock(12*time.Second, 5, now), // stops guessing one account's password
		// Each sign-up costs an argon2id hash (19 MiB, tens of ms of CPU):
		// an office behind one address still signs its team up at once.
		signUpIP: ratelimit.NewWithClock(30*time.Second, 10, now),
		keys:     newKeyCache(KeyCacheTTL),
	}
	svc.stamps = newStamper(s, svc.keys)
	return svc
}

// WithLogger sets where the service logs the stamps of API keys' use it
// fails to write (slog.Default() otherwise).
func (s *Service) WithLogger(l *slog.Logger) *Service {
	s.stamps.log = l
	return s
}

// Close ends the background work: the stamps of API keys' use under way
// are cancelled, and none starts after. The store must stay open until it
// returns.
func (s *Service) Close() { s.stamps.close() }

// Session is what signing in returns.
type Session struct {
	AccessToken  string
	RefreshToken string
	ExpiresAt    time.Time
	User         User
}

var errBadLogin = apperr.Unauthenticated("wrong e-mail or password")

// NormalizeEmail trims and lower-cases an e-mail address.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// SignUp creates an account and signs it in.
func (s *Service) SignUp(ctx context.Context, email, password, name string) (*Session, error) {
	if err := apperr.CheckTexts("email", email, "password", password, "name", name); err != nil {
		return nil, err
	}
	// Every problem at once, so that a sign-up form can mark them all.
	var problems apperr.Problems
	email = NormalizeEmail(email)
	problems.Add(validateEmail(email))
	if n := utf8.RuneCountInString(password); n < 10 || n > 256 {
		problems.Add(apperr.Invalid("password", "password must be 10 to 256 characters"))
	}
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n < 1 || n > 100 {
		problems.Add(apperr.Invalid("name", "name must be 1 to 100 characters"))
	}
	if err := problems.Err(); err != nil {
		return nil, err
	}
	if ok, wait := s.signUpIP.Allow(ratelimit.ClientIP(ctx)); !ok {
		return nil, apperr.RateLimited(wait)
	}
	user := User{ID: store.NewID(), Email: email, Name: name, PasswordHash: HashPassword(password), CreatedAt: store.Now()}
	var sess *Session
	err := s.store.WithTx(ctx, func(ctx context.Context) error {
		if err := s.store.DB(ctx).Create(&user).Error; err != nil {
			if store.IsDuplicate(err) {
				return apperr.Conflict("an account with this e-mail already exists")
			}
			return fmt.Errorf("create user: %w", err)
		}
		var err error
		sess, err = s.startSession(ctx, user, store.NewID())
		return err
	})
	return sess, err
}

// LogIn checks an e-mail and password. A wrong e-mail and a wrong password
// get the same answer, in about the same time.
func (s *Service) LogIn(ctx context.Context, email, password string) (*Session, error) {
	if err := apperr.CheckTexts("email", email, "password", password); err != nil {
		return nil, err
	}
	email = NormalizeEmail(email)
	if ok, wait := s.loginIP.Allow(ratelimit.ClientIP(ctx)); !ok {
		return nil, apperr.RateLimited(wait)
	}
	if ok, wait := s.loginID.Allow(email); !ok {
		return nil, apperr.RateLimited(wait)
	}
	var user User
	err := s.store.DB(ctx).Where("email = ?", email).Take(&user).Error
	if store.IsNotFound(err) {
		CheckPassword(dummyHash, password)
		return nil, errBadLogin
	}
	if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	if !CheckPassword(user.PasswordHash, password) {
		return nil, errBadLogin
	}
	return s.startSession(ctx, user, store.NewID())
}

// startSession issues an access token and a refresh token of family.
func (s *Service) startSession(ctx context.Context, user User, family string) (*Session, error) {
	access, exp, err := s.tokens.Issue(user.ID)
	if err != nil {
		return nil, err
	}
	secret := RandomToken(32)
	now := store.Now()
	rt := RefreshToken{ID: store.NewID(), UserID: user.ID, FamilyID: family, TokenHash: HashToken(secret),
		CreatedAt: now, ExpiresAt: now.Add(RefreshTokenTTL)}
	if err := s.store.DB(ctx).Create(&rt).Error; err != nil {
		return nil, fmt.Errorf("store refresh token: %w", err)
	}
	return &Session{AccessToken: access, RefreshToken: secret, ExpiresAt: exp, User: user}, nil
}

var errBadRefresh = apperr.Unauthenticated("invalid or expired refresh token")

// Refresh trades a refresh token for a new session. Each token works once,
// but for RefreshGrace after its first use, when it gives another token of
// the same session (concurrent refreshes of one client); presenting one
// that was used longer ago means it was stolen or replayed, and the whole
// session family is revoked.
func (s *Service) Refresh(ctx context.Context, secret string) (*Session, error) {
	if err := apperr.CheckTexts("refreshToken", secret); err != nil {
		return nil, err
	}
	var (
		sess      *Session
		replayed  string
		tokenHash = HashToken(secret)
	)
	err := s.store.WithTx(ctx, func(ctx context.Context) error {
		db := s.store.DB(ctx)
		var rt RefreshToken
		if err := db.Where("token_hash = ?", tokenHash).Take(&rt).Error; err != nil {
			if store.IsNotFound(err) {
				return errBadRefresh
			}
			return fmt.Errorf("load refresh token: %w", err)
		}
		if rt.RevokedAt != nil || rt.ExpiresAt.Before(time.Now()) {
			return errBadRefresh
		}
		now := store.Now()
		if rt.UsedAt != nil && !withinGrace(rt, now) {
			replayed = rt.FamilyID
			return errBadRefresh
		}
		res := db.Model(&RefreshToken{}).Where("id = ? AND used_at IS NULL AND revoked_at IS NULL", rt.ID).Update("used_at", now)
		if res.Error != nil {
			return fmt.Errorf("use refresh token: %w", res.Error)
		}
		if res.RowsAffected != 1 {
			// Used meanwhile or before: read its state again (a statement
			// of its own sees what the concurrent refresh committed).
			var cur RefreshToken
			if err := db.Where("id = ?", rt.ID).Take(&cur).Error; err != nil {
				return fmt.Errorf("reload refresh token: %w", err)
			}
			if !withinGrace(cur, now) {
				replayed = rt.FamilyID
				return errBadRefresh
			}
		}
		var user User
		if err := db.Where("id = ?", rt.UserID).Take(&user).Error; err != nil {
			return fmt.Errorf("load user %s: %w", rt.UserID, err)
		}
		var err error
		sess, err = s.startSession(ctx, user, rt.FamilyID)
		return err
	})
	if replayed != "" {
		// Outside the failed transaction, so the revocation sticks.
		if rerr := s.revokeFamily(ctx, replayed); rerr != nil {
			return nil, rerr
		}
	}
	return sess, err
}

// withinGrace reports whether a spent refresh token may still refresh at
// now: it was used at most RefreshGrace ago and its session is not
// revoked.
func withinGrace(rt RefreshToken, now time.Time) bool {
	return rt.RevokedAt == nil && rt.UsedAt != nil && now.Sub(*rt.UsedAt) <= RefreshGrace
}

// LogOut revokes the session the refresh token belongs to. An unknown token
// is not an error: the session is over either way.
func (s *Service) LogOut(ctx context.Context, secret string) error {
	if err := apperr.CheckTexts("refreshToken", secret); err != nil {
		return err
	}
	var rt RefreshToken
	err := s.store.DB(ctx).Where("token_hash = ?", HashToken(secret)).Take(&rt).Error
	if store.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load refresh token: %w", err)
	}
	return s.revokeFamily(ctx, rt.FamilyID)
}

func (s *Service) revokeFamily(ctx context.Context, family string) error {
	err := s.store.DB(ctx).Model(&RefreshToken{}).Where("family_id = ? AND revoked_at IS NULL", family).
		Update("revoked_at", store.Now()).Error
	if err != nil {
		return fmt.Errorf("revoke session %s: %w", family, err)
	}
	return nil
}

// User loads an account by id.
func (s *Service) User(ctx context.Context, id string) (*User, error) {
	if err := apperr.CheckTexts("id", id); err != nil {
		return nil, err
	}
	var u User
	if err := s.store.DB(ctx).Where("id = ?", id).Take(&u).Error; err != nil {
		if store.IsNotFound(err) {
			return nil, apperr.NotFound("user")
		}
		return nil, fmt.Errorf("load user %s: %w", id, err)
	}
	return &u, nil
}

// Users returns the users of ids that exist, by id, in one query: for a
// page of approvals naming their deciders.
func (s *Service) Users(ctx context.Context, ids []string) (map[string]*User, error) {
	for _, id := range ids {
		if err := apperr.CheckText("id", id); err != nil {
			return nil, err
		}
	}
	var users []User
	if err := s.store.DB(ctx).Where("id IN ?", ids).Find(&users).Error; err != nil {
		return nil, fmt.Errorf("load %d users: %w", len(ids), err)
	}
	out := make(map[string]*User, len(users))
	for i := range users {
		out[users[i].ID] = &users[i]
	}
	return out, nil
}

// Authenticate resolves a bearer credential: an API key ("otw_…", "otr_…")
// or an access token.
func (s *Service) Authenticate(ctx context.Context, bearer string) (*Principal, error) {
	if err := apperr.CheckTexts("authorization", bearer); err != nil {
		return nil, err
	}
	if strings.HasPrefix(bearer, WriteKeyPrefix) || strings.HasPrefix(bearer, ReadKeyPrefix) {
		return s.authenticateKey(ctx, bearer)
	}
	userID, exp, err := s.tokens.Verify(bearer)
	if err != nil {
		return nil, apperr.Unauthenticated("invalid or expired access token")
	}
	return &Principal{UserID: userID, ExpiresAt: exp}, nil
}

// keyBySecret reads what authenticating an API key needs, on every request
// that carries one.
var keyBySecret = store.NewQuery(`SELECT ` + keyColumns + ` FROM api_keys WHERE secret_hash = ?`)

// keyColumns are what authenticating an API key reads of it.
const keyColumns = `id, project_id, scope, last_used_at, revoked_at`

func (s *Service) authenticateKey(ctx context.Context, secret string) (*Principal, error) {
	hash := HashToken(secret)
	now := store.Now()
	key, gen, cached := s.keys.get(hash, now)
	if !cached {
		err := s.store.QueryRow(ctx, keyBySecret, hash).
			Scan(&key.ID, &key.ProjectID, &key.Scope, &key.LastUsedAt, &key.RevokedAt)
		if store.IsNotFound(err) {
			return nil, apperr.Unauthenticated("invalid API key")
		}
		if err != nil {
			return nil, fmt.Errorf("load API key: %w", err)
		}
		s.keys.put(hash, key, now, gen)
	}
	if key.RevokedAt != nil {
		return nil, apperr.Unauthenticated("API key revoked")
	}
	// Stamp lastUsedAt at most once a minute: a write per request would
	// make every read a write.
	// The stamp is written in the background: the request never waits
	// for it, nor fails with it.
	if key.LastUsedAt == nil || now.Sub(*key.LastUsedAt) >= time.Minute {
		s.stamps.stamp(hash, key.ID, now)
	}
	return &Principal{APIKey: &KeyPrincipal{ID: key.ID, ProjectID: key.ProjectID, Scope: key.Scope}}, nil
}

// KeyActive reports whether an API key still exists and is not revoked; live
// subscriptions recheck it.
func (s *Service) KeyActive(ctx context.Context, keyID string) (bool, error) {
	if err := apperr.CheckTexts("keyId", keyID); err != nil {
		return false, err
	}
	var n int64
	err := s.store.DB(ctx).Model(&APIKey{}).Where("id = ? AND revoked_at IS NULL", keyID).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("check API key %s: %w", keyID, err)
	}
	return n == 1, nil
}

func validateEmail(email string) error {
	if len(email) > 254 {
		return apperr.Invalid("email", "e-mail address is too long")
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || !strings.Contains(email[strings.LastIndex(email, "@"):], ".") {
		return apperr.Invalid("email", "enter a valid e-mail address, like name@example.com")
	}
	return nil
}
