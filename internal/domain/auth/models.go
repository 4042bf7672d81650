package auth

import "time"

// User is an account.
type User struct {
	ID           string
	Email        string
	Name         string
	PasswordHash string
	CreatedAt    time.Time
}

// RefreshToken is one link of a session's rotation chain; all links of one
// sign-in share a family.
type RefreshToken struct {
	ID        string
	UserID    string
	FamilyID  string
	TokenHash string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
	RevokedAt *time.Time
}

// APIKey is a project's key for scripts; only the hash of its secret is kept.
type APIKey struct {
	ID         string
	ProjectID  string
	Name       string
	Scope      Scope
	Prefix     string
	SecretHash string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// TableName pins the table name.
func (APIKey) TableName() string { return "api_keys" }
