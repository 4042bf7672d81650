package webhook_test

import (
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// A rotation with overlapSeconds 0 after one with an overlap ends the
// previous secret at once, and says so: previousSecretExpiresAt is null.
func TestCallbackRotationWithoutOverlapEndsThePreviousSecret(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d, newReceiver(t))
		e.rotateCallbackSecret(t, 0)
		if _, exp := e.rotateCallbackSecret(t, 600); exp == nil {
			t.Fatal("a rotation with an overlap has no previousSecretExpiresAt")
		}
		if _, exp := e.rotateCallbackSecret(t, 0); exp != nil {
			t.Errorf("a rotation without overlap: previous secret until %v, want null", exp)
		}
	})
}
