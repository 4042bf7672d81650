package approval

import (
	"context"
	"time"

	"github.com/ottr/backend/internal/domain/auth"
)

// NonceWithoutID is a nonce of token's link as Open issued them before
// nonces named the approval, for a page loaded before then.
func (s *Service) NonceWithoutID(token string, issued time.Time) string {
	return s.secrets.nonce(auth.HashToken(token), "", issued)
}

// NonceNaming is a nonce of token's link, issued by this server, that
// names approvalID, whichever approval the token is of.
func (s *Service) NonceNaming(token, approvalID string, issued time.Time) string {
	return s.secrets.nonce(auth.HashToken(token), approvalID, issued)
}

// ExecuteByNonce is the one-statement execution alone; ok is false when
// it wrote nothing.
func (s *Service) ExecuteByNonce(ctx context.Context, token, nonce, actionKey, pin string, comment *string) (*Execution, bool, error) {
	return s.executeByNonce(ctx, token, nonce, actionKey, pin, comment, s.now())
}
