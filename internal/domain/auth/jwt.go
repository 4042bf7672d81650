package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	jwtIssuer   = "ottr"
	jwtAudience = "ottr-api"
	// AccessTokenTTL is how long an access token is valid unless
	// OTTR_ACCESS_TOKEN_TTL says otherwise.
	AccessTokenTTL = 15 * time.Minute
	clockSkew      = 30 * time.Second
)

// Tokens issues and verifies access tokens.
type Tokens struct {
	secret []byte
	now    func() time.Time
	ttl    time.Duration
}

// NewTokens signs with secret (HS256).
func NewTokens(secret []byte) *Tokens {
	return &Tokens{secret: secret, now: time.Now, ttl: AccessTokenTTL}
}

// WithTTL makes the tokens valid for ttl (OTTR_ACCESS_TOKEN_TTL); zero
// keeps AccessTokenTTL.
func (t *Tokens) WithTTL(ttl time.Duration) *Tokens {
	if ttl > 0 {
		t.ttl = ttl
	}
	return t
}

// Issue returns a signed access token for userID and when it expires.
func (t *Tokens) Issue(userID string) (string, time.Time, error) {
	now := t.now()
	exp := now.Add(t.ttl).Truncate(time.Second)
	claims := jwt.RegisteredClaims{
		Issuer:    jwtIssuer,
		Subject:   userID,
		Audience:  jwt.ClaimStrings{jwtAudience},
		ExpiresAt: jwt.NewNumericDate(exp),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ID:        RandomToken(12),
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign access token: %w", err)
	}
	return signed, exp.UTC(), nil
}

// Verify checks an access token: HS256 only (so "none" and every other
// algorithm are refused), issuer, audience, expiry with 30 s of skew.
func (t *Tokens) Verify(token string) (userID string, expiresAt time.Time, err error) {
	claims := &jwt.RegisteredClaims{}
	_, err = jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(jwtIssuer),
		jwt.WithAudience(jwtAudience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(clockSkew),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("verify access token: %w", err)
	}
	if claims.Subject == "" {
		return "", time.Time{}, errors.New("verify access token: no subject")
	}
	return claims.Subject, claims.ExpiresAt.Time, nil
}
