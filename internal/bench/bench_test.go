package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/ottr/backend/internal/store"
	"github.com/ottr/backend/internal/store/storetest"
)

// The smoke runs: every scenario for about a second at low concurrency on
// each database it runs on, through Main as `ottr bench` runs it, checking
// that the results are sane, so that the tool cannot rot. The full run is
// not part of the suite: see BENCHMARKS.md.

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// ottrBinary builds the server once for the tests that run it as a child
// process (this test binary is not the server).
func ottrBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ottr-bench-binary-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "ottr")
		out, err := exec.Command("go", "build", "-o", binary, "github.com/ottr/backend").CombinedOutput()
		if err != nil {
			buildErr = err
			binary = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build the server: %v\n%s", buildErr, binary)
	}
	return binary
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" && buildErr == nil {
		_ = os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

// smoke runs `ottr bench args…` for about a second a side and returns its
// one report, after checking what every report must satisfy.
func smoke(t *testing.T, args ...string) *Report {
	t.Helper()
	out := filepath.Join(t.TempDir(), "results.json")
	args = append(args, "-d", "1s", "-warmup", "300ms", "-c", "2", "-q", "-json", out)
	var stdout, stderr bytes.Buffer
	err := Main(context.Background(), args, &stdout, &stderr)
	t.Logf("ottr bench %v:\n%s%s", args, stdout.String(), stderr.String())
	if err != nil {
		t.Fatalf("bench: %v", err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("read the JSON results: %v", err)
	}
	var res Results
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("decode the JSON results: %v", err)
	}
	if len(res.Reports) != 1 {
		t.Fatalf("%d reports, want 1", len(res.Reports))
	}
	if res.Machine.Cores < 1 || len(res.Machine.LoadAtStart) != 3 {
		t.Fatalf("machine not described: %+v", res.Machine)
	}
	r := res.Reports[0]
	if r.Ours.Ops == 0 || r.Ours.Errors != 0 || r.Ours.P50Ms <= 0 || r.Ours.P99Ms < r.Ours.P50Ms {
		t.Fatalf("ours: %+v", r.Ours)
	}
	if r.Ours.PeakRSSMB == nil || *r.Ours.PeakRSSMB <= 0 {
		t.Fatalf("no memory figure for the server: %+v", r.Ours)
	}
	if r.Ours.Cut == "interrupted" {
		t.Fatalf("ours was interrupted: %+v", r.Ours)
	}
	return r
}

// checkCompared checks a scenario with a baseline: both sides ran without
// errors and the ratio was computed.
func checkCompared(t *testing.T, r *Report) {
	t.Helper()
	if r.Ours.Throughput <= 0 || r.Ours.CPUSeconds == nil || *r.Ours.CPUSeconds <= 0 {
		t.Fatalf("ours: %+v", r.Ours)
	}
	b := r.Baseline
	if b == nil || b.Ops == 0 || b.Errors != 0 || b.Throughput <= 0 || b.P50Ms <= 0 {
		t.Fatalf("baseline: %+v", b)
	}
	if r.Ratio == nil || r.Ratio.Throughput <= 0 || r.Ratio.P99 <= 0 || r.Goal.Text == "" {
		t.Fatalf("no ratio or goal: %+v %+v", r.Ratio, r.Goal)
	}
}

// small keeps each scenario's smoke run small.
var small = map[string][]string{
	"create":   {"-projects", "4"},
	"execute":  nil,
	"read":     nil,
	"fanout":   {"-subscribers", "20", "-rate", "20"},
	"dispatch": {"-rate", "5", "-channels", "2"},
}

func TestSmokeInProcess(t *testing.T) {
	t.Parallel()
	for name, extra := range small {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, _ := findScenario(name)
			for _, d := range storetest.Dialects() {
				if !slices.Contains(s.dialects, d) {
					continue // dispatch: its baseline is PostgreSQL's LISTEN/NOTIFY
				}
				t.Run(string(d), func(t *testing.T) {
					t.Parallel()
					r := smoke(t, append([]string{name, "-server", serverInProcess, "-db", string(d)}, extra...)...)
					checkCompared(t, r)
					if !r.Ours.SharedProcess {
						t.Fatal("the in-process server's figures are not marked as shared with the load generator")
					}
				})
			}
		})
	}
}

// TestSmokeChild runs the server and the baselines' servers (read
// handler, websocket hub) as child processes, as the full run does.
func TestSmokeChild(t *testing.T) {
	t.Parallel()
	bin := ottrBinary(t)
	for _, args := range [][]string{{"read"}, append([]string{"fanout"}, small["fanout"]...)} {
		t.Run(args[0], func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, d store.Dialect) {
				t.Parallel()
				r := smoke(t, append(args, "-binary", bin, "-db", string(d))...)
				checkCompared(t, r)
				if r.Ours.SharedProcess || r.Baseline.SharedProcess || r.Baseline.PeakRSSMB == nil {
					t.Fatalf("child processes measured as shared, or the baseline's not at all: %+v %+v", r.Ours, r.Baseline)
				}
				if args[0] == "fanout" && (r.Ours.Extra["memPerSubscriberKB"] <= 0 || r.Baseline.Extra["memPerSubscriberKB"] <= 0) {
					t.Fatalf("no memory per subscriber: %v %v", r.Ours.Extra, r.Baseline.Extra)
				}
			})
		})
	}
}

func TestSmokeStart(t *testing.T) {
	t.Parallel()
	r := smoke(t, "start", "-binary", ottrBinary(t))
	if r.Ours.Ops != startsPerRound || r.Ours.Extra["idleRssMB"] <= 0 || r.Goal.Text == "" {
		t.Fatalf("start: %+v, goal %+v", r.Ours, r.Goal)
	}
}
