package event

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: the
// broker promises none per subscription, and the listener none after Run.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
