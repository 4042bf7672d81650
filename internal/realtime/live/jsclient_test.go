package live_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// TestGraphQLWSClient runs the graphql-ws JavaScript client (what Apollo
// Client and urql use) against the server with Node.js: it subscribes with
// a key, receives an event recorded here, and is refused with bad
// credentials. test/js/node_modules comes from `npm ci` (.ci/run does it).
func TestGraphQLWSClient(t *testing.T) {
	t.Parallel()
	node, dir := testserver.NodeTools(t, "test/js")
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv, _, pid, _, key := setup(t, d)
		before := srv.Record(pid, event.ApprovalCreated)

		cmd := exec.Command(node, "subscribe.mjs")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(),
			"OTTR_WS_URL=ws"+strings.TrimPrefix(srv.URL, "http")+"/query",
			"OTTR_KEY="+key, "OTTR_PROJECT="+pid, "OTTR_AFTER="+id(before))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
			exited <- cmd.Wait()
		}()
		next := func() string {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("node exited early: %v\n%s", <-exited, stderr.String())
				}
				return line
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("node printed nothing in time\n%s", stderr.String())
			}
			return ""
		}

		if line := next(); line != "ready" {
			t.Fatalf("node printed %q, want ready", line)
		}
		want := srv.Record(pid, event.ApprovalExecuted)
		var got liveEvent
		if line := next(); json.Unmarshal([]byte(line), &got) != nil || got.ID != id(want) || got.Type != "APPROVAL_EXECUTED" || got.ProjectID != pid {
			t.Fatalf("node received %q, want event %d", line, want.ID)
		}
		if line := next(); line != "refused 4403" {
			t.Fatalf("node printed %q, want refused 4403", line)
		}
		for range lines {
		}
		if err := <-exited; err != nil {
			t.Fatalf("node failed: %v\n%s", err, stderr.String())
		}
	})
}
