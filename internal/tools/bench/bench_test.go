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

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// The smoke runs: every scenario for about a second at low concurrency on
// each database it runs on, through Main as `ottr-bench` runs it, checking
// that the results are sane, so that the tool cannot rot. The full run is
// not part of the suite: see BENCHMARKS.md.

var (
	buildOnce  sync.Once
	binDir     string
	buildErr   error
	buildOut   []byte
	binaryName = map[string]string{"ottr": "github.com/ottr/backend/cmd/ottr", "ottr-bench": "github.com/ottr/backend/cmd/ottr-bench"}
)

// binaries builds, once, the server and this tool for the tests that run
// them as child processes (this test binary is neither), and returns the
// flags that name them.
func binaries(t *testing.T) []string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "ottr-bench-binary-"); buildErr != nil {
			return
		}
		for name, pkg := range binaryName {
			if buildOut, buildErr = exec.Command("go", "build", "-o", filepath.Join(binDir, name), pkg).CombinedOutput(); buildErr != nil {
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("build the server and the tool: %v\n%s", buildErr, buildOut)
	}
	return []string{"-binary", filepath.Join(binDir, "ottr"), "-tool", filepath.Join(binDir, "ottr-bench")}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// smoke runs `ottr-bench args…` for about a second a side and returns its
// one report, after checking what every report must satisfy.
func smoke(t *testing.T, args ...string) *Report {
	t.Helper()
	out := filepath.Join(t.TempDir(), "results.json")
	args = append(args, "-d", "1s", "-warmup", "300ms", "-c", "2", "-q", "-json", out)
	if i := slices.Index(args, "-db"); i >= 0 && i+1 < len(args) && args[i+1] == string(store.Postgres) {
		// The configured server, or the throwaway cluster in its place.
		args = append(args, "-admin-url", storetest.PostgresURL(t))
	}
	var stdout, stderr bytes.Buffer
	err := Main(context.Background(), args, &stdout, &stderr)
	t.Logf("ottr-bench %v:\n%s%s", args, stdout.String(), stderr.String())
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
	"create":     {"-projects", "4"},
	"create-one": nil,
	"instances":  {"-projects", "4"},
	"execute":    nil,
	"read":       nil,
	"fanout":     {"-subscribers", "20", "-rate", "20"},
	"dispatch":   {"-rate", "5", "-channels", "2"},
	"webhooks":   {"-rate", "5", "-channels", "2"},
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
	bins := binaries(t)
	for _, args := range [][]string{{"read"}, append([]string{"fanout"}, small["fanout"]...)} {
		t.Run(args[0], func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, d store.Dialect) {
				t.Parallel()
				r := smoke(t, append(append(args, bins...), "-db", string(d))...)
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
	r := smoke(t, append([]string{"start"}, binaries(t)...)...)
	if r.Ours.Ops != startsPerRound || r.Ours.Extra["idleRssMB"] <= 0 || r.Goal.Text == "" {
		t.Fatalf("start: %+v, goal %+v", r.Ours, r.Goal)
	}
}
