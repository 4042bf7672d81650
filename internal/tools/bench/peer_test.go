package bench

import (
	"testing"

	"github.com/ottr/backend/internal/platform/store/storetest"
)

// TestSmokePeer runs the scenarios measured against PostGraphile (the
// peer, installed from test/postgraphile on first use) briefly, with the
// server as a child process, so that each side runs with the other
// stopped, as the full run does.
func TestSmokePeer(t *testing.T) {
	t.Parallel()
	if storetest.SQLiteOnly() {
		t.Skip("OTTR_TEST_SQLITE_ONLY=1: PostGraphile serves PostgreSQL only")
	}
	bins := binaries(t)
	for _, args := range [][]string{{"create-peer", "-projects", "4"}, {"page"}, {"page-ceiling"}} {
		t.Run(args[0], func(t *testing.T) {
			t.Parallel()
			r := smoke(t, append(args, bins...)...)
			checkCompared(t, r)
			measured := "ours"
			if args[0] == "page-ceiling" {
				measured = "handler"
			}
			if r.Ours.Name != measured {
				t.Fatalf("the measured side is %q, want %q", r.Ours.Name, measured)
			}
			if r.Baseline.Name != "postgraphile" || r.Baseline.CPUMsPerOp == nil || r.Ours.CPUMsPerOp == nil {
				t.Fatalf("the peer's side or CPU figures are missing: %+v %+v", r.Ours, r.Baseline)
			}
			if r.Ours.SharedProcess || r.Baseline.SharedProcess {
				t.Fatalf("child processes measured as shared: %+v %+v", r.Ours, r.Baseline)
			}
		})
	}
}
