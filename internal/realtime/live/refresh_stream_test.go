package live_test

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// TestGraphQLWSClientAcrossTokenRefresh runs the README's recipe for live
// streams with the graphql-ws client under Node.js (test/js/refresh-stream.mjs)
// against a server whose access tokens last 3 s, for more than three token
// lifetimes while events are recorded: at each expiry the server closes
// the connection with 4403, the client reconnects with a refreshed token
// and resubscribes after the last event it received, and it receives
// every event exactly once, in order.
func TestGraphQLWSClientAcrossTokenRefresh(t *testing.T) {
	t.Parallel()
	node, dir := testserver.NodeTools(t, "test/js")
	const ttl = 3 * time.Second
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv, alice, pid, _, _ := setup(t, d, func(c *config.Config) { c.AccessTokenTTL = ttl })
		before := srv.Record(pid, event.ApprovalCreated)

		cmd := exec.Command(node, "refresh-stream.mjs")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(),
			"OTTR_HTTP_URL="+srv.URL,
			"OTTR_WS_URL=ws"+strings.TrimPrefix(srv.URL, "http")+"/query",
			"OTTR_REFRESH="+alice.RefreshToken, "OTTR_PROJECT="+pid, "OTTR_AFTER="+id(before))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		lines := make(chan string, 1024)
		exited := make(chan error, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
			exited <- cmd.Wait()
		}()

		var (
			received             []string
			connected, refreshed int
		)
		take := func(line string, ok bool) {
			if !ok {
				t.Fatalf("node exited early: %v\n%s", <-exited, stderr.String())
			}
			switch {
			case line == "connected":
				connected++
			case line == "refreshed":
				refreshed++
			case strings.HasPrefix(line, "event "):
				received = append(received, strings.TrimPrefix(line, "event "))
			default:
				t.Fatalf("node printed %q", line)
			}
		}
		for connected == 0 {
			select {
			case line, ok := <-lines:
				take(line, ok)
			case <-time.After(30 * time.Second):
				t.Fatalf("node did not connect\n%s", stderr.String())
			}
		}

		// Events every 50 ms for more than three token lifetimes, and on
		// until the third reconnect: each token lasts ttl from its issue,
		// after a reconnect that a busy machine makes late.
		var want []string
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		end, giveUp := time.Now().Add(3*ttl+ttl/2), time.Now().Add(10*ttl)
		for (time.Now().Before(end) || connected < 4) && time.Now().Before(giveUp) {
			select {
			case <-tick.C:
				want = append(want, id(srv.Record(pid, event.ApprovalCreated)))
			case line, ok := <-lines:
				take(line, ok)
			}
		}
		deadline := time.After(30 * time.Second)
		for len(received) < len(want) {
			select {
			case line, ok := <-lines:
				take(line, ok)
			case <-deadline:
				t.Fatalf("received %d of %d events\n%s", len(received), len(want), stderr.String())
			}
		}
		_ = stdin.Close()
		for line := range lines {
			take(line, true)
		}
		if err := <-exited; err != nil {
			t.Fatalf("node failed: %v\n%s", err, stderr.String())
		}
		if !slices.Equal(received, want) {
			t.Fatalf("received %d events %v,\nwant %d %v", len(received), received, len(want), want)
		}
		// The first token, then one per expiry: at least three reconnects.
		if connected < 4 || refreshed < 4 {
			t.Fatalf("connected %d times with %d refreshes over %v, want at least 4 of each", connected, refreshed, 10*ttl)
		}
		t.Logf("%d events over %d connections", len(received), connected)
	})
}
