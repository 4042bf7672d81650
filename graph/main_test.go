package graph_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: every
// websocket, subscription and SSE stream must end with its connection.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
