package graph_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: every
// websocket, subscription and SSE stream must end with its connection.
// The list workers waiting for their next list are not left behind: they
// end by themselves once idle (TestWorkersAreReusedThenEnd).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/ottr/backend/graph.(*workerPool).work"))
}
