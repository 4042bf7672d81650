// Package bench is Ottr's load tool (cmd/ottr-bench): it drives
// the server over real HTTP at a chosen concurrency or arrival rate and,
// in the same run, on the same database, a baseline that does only the
// irreducible part of the same work (the rows that must be written, sent
// by pgx; a minimal net/http handler), and reports both side by side with
// their ratio. On
// shared machines absolute times drift; the ratio to the physical limit
// measured a second later does much less.
package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/ottr/backend/internal/platform/store"
)

// How the server under test is started.
const (
	serverChild     = "child"
	serverInProcess = "inproc"
)

// DefaultProjects is how many projects the create and instances scenarios
// spread their approvals over.
const DefaultProjects = 200

// DefaultAdminURL is the PostgreSQL server that fresh benchmark databases
// are created on: the local one these machines and docker compose run.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// options are the command's flags.
type options struct {
	url         string
	pid         int
	server      string
	binary      string
	tool        string
	database    string
	databaseURL string
	adminURL    string
	dataDir     string
	concurrency int
	subscribers int
	channels    int
	// ordering is the channels' and endpoints' ordering in dispatch and
	// webhooks; empty: the default, PER_APPROVAL.
	ordering   string
	projects   int
	rate       float64
	duration   time.Duration
	warmup     time.Duration
	rounds     int
	all        bool // every scenario: skip those that do not run on -db
	jsonFile   string
	profileDir string
	quiet      bool
	progress   io.Writer
}

// scenario is one thing the tool measures.
type scenario struct {
	name  string
	about string
	// dialects the scenario runs on (the first is the default).
	dialects []store.Dialect
	run      func(ctx context.Context, e *env, r *Report) error
	goal     func(r *Report) Goal
}

var scenarios = []scenario{
	{name: "create", about: "createApproval over HTTP over -projects projects vs its four rows (approval, event, job, delivery) inserted by pgx",
		dialects: []store.Dialect{store.Postgres, store.SQLite}, run: runCreate, goal: throughputGoal(0.60, 0)},
	{name: "create-one", about: "createApproval over HTTP, all in one project, vs its four rows inserted by pgx",
		dialects: []store.Dialect{store.Postgres, store.SQLite}, run: runCreateOne, goal: throughputGoal(0.30, 0)},
	{name: "instances", about: "createApproval over HTTP on two server instances on one PostgreSQL vs on one of them",
		dialects: []store.Dialect{store.Postgres}, run: runInstances, goal: throughputGoal(1.6, 0)},
	{name: "execute", about: "approvalLink + executeApproval with a PIN vs its read, update, key and event by pgx",
		dialects: []store.Dialect{store.Postgres, store.SQLite}, run: runExecute, goal: throughputGoal(0.50, 0)},
	{name: "read", about: "approval(id) over HTTP vs a minimal net/http + pgx handler returning the same JSON",
		dialects: []store.Dialect{store.Postgres, store.SQLite}, run: runRead, goal: throughputGoal(0.85, 1.3)},
	{name: "create-peer", about: "createApproval over HTTP as in create vs PostGraphile 4's generated one-row createApproval on the same database",
		dialects: []store.Dialect{store.Postgres}, run: runCreatePeer, goal: throughputGoal(1.3, 0)},
	{name: "page", about: "the dashboard's page (50 approvals of a project with their events, READ key) vs the same page through PostGraphile 4",
		dialects: []store.Dialect{store.Postgres}, run: runPage, goal: throughputGoal(2.0, 0)},
	{name: "page-ceiling", about: "the same page from a minimal net/http + pgx handler (its three reads and the JSON, no credential) vs PostGraphile 4: the most a server can make of it here",
		dialects: []store.Dialect{store.Postgres}, run: runPageCeiling, goal: ceilingGoal},
	{name: "fanout", about: "projectEvents to websocket subscribers at a constant event rate vs a plain websocket hub",
		dialects: []store.Dialect{store.Postgres, store.SQLite}, run: runFanout, goal: fanoutGoal},
	{name: "dispatch", about: "events delivered to a fake Slack by the dispatcher vs PostgreSQL's LISTEN/NOTIFY round trip",
		dialects: []store.Dialect{store.Postgres}, run: runDispatch, goal: dispatchGoal},
	{name: "webhooks", about: "events delivered to webhook endpoints by the dispatcher vs PostgreSQL's LISTEN/NOTIFY round trip, measured with the server stopped",
		dialects: []store.Dialect{store.Postgres}, run: runWebhooks, goal: dispatchGoal},
	{name: "start", about: "the built binary on a fresh SQLite data directory until /readyz answers 200; idle memory",
		dialects: []store.Dialect{store.SQLite}, run: runStart, goal: startGoal},
}

// throughputGoal wants ours at least minRatio of the baseline's
// throughput and, with maxP99 above 0, a p99 at most maxP99 times the
// baseline's.
func throughputGoal(minRatio, maxP99 float64) func(r *Report) Goal {
	return func(r *Report) Goal {
		g := Goal{Text: fmt.Sprintf("throughput ≥ %.2f × baseline", minRatio)}
		if maxP99 > 0 {
			g.Text += fmt.Sprintf(", p99 ≤ %.1f × baseline", maxP99)
		}
		var why []string
		switch {
		case r.Ratio == nil:
			why = append(why, "no baseline measured")
		default:
			if r.Ratio.Throughput < minRatio {
				why = append(why, fmt.Sprintf("throughput ratio %.3f", r.Ratio.Throughput))
			}
			if maxP99 > 0 && r.Ratio.P99 > maxP99 {
				why = append(why, fmt.Sprintf("p99 ratio %.3f", r.Ratio.P99))
			}
		}
		return g.judge(r, why)
	}
}

// fanoutGoal: p99 publish→receive at most twice the hub's, memory per
// subscriber at most 1.5 times.
func fanoutGoal(r *Report) Goal {
	g := Goal{Text: "p99 ≤ 2 × baseline, memory per subscriber ≤ 1.5 × baseline"}
	var why []string
	if r.Ratio == nil || r.Baseline == nil {
		why = append(why, "no baseline measured")
	} else {
		if r.Ratio.P99 > 2 {
			why = append(why, fmt.Sprintf("p99 ratio %.3f", r.Ratio.P99))
		}
		if mem := r.Ours.Extra["memPerSubscriberKB"] / r.Baseline.Extra["memPerSubscriberKB"]; mem > 1.5 {
			why = append(why, fmt.Sprintf("memory ratio %.3f", mem))
		}
	}
	return g.judge(r, why)
}

// dispatchGoal: p95 commit→Slack at most 10 times the NOTIFY round trip's,
// and at least 500 deliveries a second.
func dispatchGoal(r *Report) Goal {
	g := Goal{Text: "p95 ≤ 10 × baseline, ≥ 500 deliveries/s"}
	var why []string
	if r.Ratio == nil {
		why = append(why, "no baseline measured")
	} else if r.Ratio.P95 > 10 {
		why = append(why, fmt.Sprintf("p95 ratio %.1f", r.Ratio.P95))
	}
	if r.Ours.Throughput < 500 {
		why = append(why, fmt.Sprintf("%.0f deliveries/s", r.Ours.Throughput))
	}
	return g.judge(r, why)
}

// ceilingGoal judges whether page's goal is within reach at all: a
// server that does only the page's reads must itself reach it.
func ceilingGoal(r *Report) Goal {
	g := throughputGoal(2.0, 0)(r)
	g.Text = "page's goal within reach: " + g.Text
	return g
}

// startGoal: ready in under a second, idle under 60 MB.
func startGoal(r *Report) Goal {
	g := Goal{Text: "ready < 1 s (p50), idle RSS < 60 MB"}
	var why []string
	if r.Ours.P50Ms >= 1000 {
		why = append(why, fmt.Sprintf("ready in %.0f ms", r.Ours.P50Ms))
	}
	if idle := r.Ours.Extra["idleRssMB"]; idle >= 60 {
		why = append(why, fmt.Sprintf("idle RSS %.1f MB", idle))
	}
	return g.judge(r, why)
}

// judge sets Met and Why; errors on either side also miss the goal: the
// figures of a run with failures do not count.
func (g Goal) judge(r *Report, why []string) Goal {
	for _, s := range []*Side{&r.Ours, r.Baseline} {
		if s != nil && s.Errors > 0 {
			why = append(why, fmt.Sprintf("%d errors on %s", s.Errors, s.Name))
		}
	}
	g.Met, g.Why = len(why) == 0, strings.Join(why, ", ")
	return g
}

func findScenario(name string) (scenario, bool) {
	for _, s := range scenarios {
		if s.name == name {
			return s, true
		}
	}
	return scenario{}, false
}

func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "usage: ottr-bench <scenario> [flags]    (go run ./cmd/ottr-bench <scenario> [flags])")
	fmt.Fprintln(w, "\nscenarios:")
	for _, s := range scenarios {
		fmt.Fprintf(w, "  %-10s %s\n", s.name, s.about)
	}
	fmt.Fprintf(w, "  %-10s every scenario above, one after another (or name several: create,execute)\n", "all")
	fmt.Fprintln(w, "\nflags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// Main runs `ottr-bench <scenario> [flags]`. Cancelling ctx (Ctrl-C) stops
// the load at once and reports what was measured so far.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == baselineServerCommand {
		return serveBaseline(ctx, args[1:])
	}
	if len(args) > 0 && args[0] == hubServerCommand {
		return serveHub(ctx, args[1:])
	}
	o := &options{}
	fs := flag.NewFlagSet("ottr-bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.url, "url", "", "drive the server running at this URL instead of starting one (needs -database-url, or -data-dir with -db sqlite, for the baselines)")
	fs.IntVar(&o.pid, "pid", 0, "with -url: the server's process id, to read its CPU time and memory from /proc")
	fs.StringVar(&o.server, "server", serverChild, "how to start the server: child (the built binary as a child process, measured from /proc) or inproc (in this process; needed for -profile)")
	fs.StringVar(&o.binary, "binary", "", "the ottr server binary to run as a child (default: built from the module in the current directory with go build)")
	fs.StringVar(&o.tool, "tool", "", "this tool's binary, run as a child for the baselines' servers (default: this executable)")
	fs.StringVar(&o.database, "db", "", "postgres or sqlite (default: the scenario's first: postgres, sqlite for start)")
	fs.StringVar(&o.databaseURL, "database-url", "", "PostgreSQL database to use as it is (default: a fresh database on -admin-url, dropped at the end)")
	fs.StringVar(&o.adminURL, "admin-url", envOr("OTTR_TEST_DATABASE_URL", DefaultAdminURL), "PostgreSQL server on which the fresh database is created")
	fs.StringVar(&o.dataDir, "data-dir", "", "with -url and -db sqlite: the server's data directory")
	fs.IntVar(&o.concurrency, "c", 16, "concurrent operations (workers; with -rate, the most in flight)")
	fs.Float64Var(&o.rate, "rate", 0, fmt.Sprintf("constant arrival rate in operations per second (0: each worker starts its next operation when the last ends; fanout: events per second, default %d; dispatch: events per second, default %d)", DefaultEventRate, DefaultDispatchRate))
	fs.IntVar(&o.subscribers, "subscribers", DefaultSubscribers, "fanout: websocket subscribers")
	fs.IntVar(&o.channels, "channels", DefaultChannels, "dispatch: Slack channels per project; webhooks: endpoints per project")
	fs.StringVar(&o.ordering, "ordering", "", "dispatch, webhooks: the channels' ordering, PER_APPROVAL or NONE (default: the server's, PER_APPROVAL)")
	fs.IntVar(&o.projects, "projects", DefaultProjects, "create, instances: projects (each with one Slack channel) the approvals go round-robin to")
	fs.DurationVar(&o.duration, "d", 10*time.Second, "duration of each side's measured phase")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up before each measured phase")
	fs.IntVar(&o.rounds, "n", 1, "rounds: ours and the baseline alternate n times; the report shows medians")
	fs.StringVar(&o.jsonFile, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&o.profileDir, "profile", "", "with -server inproc: write CPU and allocation profiles of each measured phase to this directory")
	fs.BoolVar(&o.quiet, "q", false, "no progress line")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		printUsage(stderr, fs)
		return errors.New("bench: name a scenario")
	}
	name := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		printUsage(stderr, fs)
		return fmt.Errorf("bench: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected arguments %q", fs.Args())
	}
	var run []scenario
	if name == "all" {
		run, o.all = scenarios, true
	} else {
		for _, n := range strings.Split(name, ",") {
			s, ok := findScenario(n)
			if !ok {
				printUsage(stderr, fs)
				return fmt.Errorf("bench: unknown scenario %q", n)
			}
			run = append(run, s)
		}
	}
	if err := o.check(); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if !o.quiet {
		o.progress = stderr
	}

	// Only child servers need the binary: the start scenario's, and the
	// server under test's with -server child.
	if o.binary == "" && (strings.Contains(name, "start") || name == "all" || (o.server == serverChild && o.url == "")) {
		bin, cleanup, err := buildServer(ctx)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer cleanup()
		o.binary = bin
	}
	res := &Results{Command: "ottr-bench " + strings.Join(args, " "), Machine: describeMachine()}
	var errs []error
	for _, s := range run {
		if ctx.Err() != nil {
			break
		}
		r, err := o.runScenario(ctx, s)
		if r != nil {
			res.Reports = append(res.Reports, r)
			if !slices.Contains(res.Machine.Databases, r.DatabaseVersion) {
				res.Machine.Databases = append(res.Machine.Databases, r.DatabaseVersion)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
			fmt.Fprintf(stderr, "bench %s: %v\n", s.name, err)
		}
	}
	res.Machine.LoadAtEnd = loadAverage()
	res.writeTable(stdout)
	if o.jsonFile != "" {
		errs = append(errs, res.writeJSON(o.jsonFile))
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "bench: interrupted; the results above are those measured until then")
	}
	return errors.Join(errs...)
}

func (o *options) check() error {
	if o.server != serverChild && o.server != serverInProcess {
		return fmt.Errorf("-server must be %s or %s", serverChild, serverInProcess)
	}
	if o.database != "" && o.database != string(store.Postgres) && o.database != string(store.SQLite) {
		return errors.New("-db must be postgres or sqlite")
	}
	if o.concurrency < 1 || o.subscribers < 1 || o.channels < 1 || o.projects < 1 || o.rounds < 1 || o.duration <= 0 || o.rate < 0 || o.warmup < 0 {
		return errors.New("-c, -n and -d must be positive, -rate and -warmup not negative")
	}
	if o.ordering != "" && o.ordering != "PER_APPROVAL" && o.ordering != "NONE" {
		return errors.New("-ordering must be PER_APPROVAL or NONE")
	}
	if o.profileDir != "" && (o.server != serverInProcess || o.url != "") {
		return errors.New("-profile needs -server inproc: only the server in this process can be profiled")
	}
	if o.url != "" && o.databaseURL == "" && o.dataDir == "" {
		return errors.New("-url needs the server's database for the baselines: -database-url, or -db sqlite -data-dir")
	}
	if o.tool == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this executable (pass -tool): %w", err)
		}
		o.tool = exe
	}
	return nil
}

// buildServer builds the server from the module in the current directory
// into a scratch directory, which cleanup removes.
func buildServer(ctx context.Context) (binary string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "ottr-bench-server-")
	if err != nil {
		return "", nil, fmt.Errorf("scratch directory for the server: %w", err)
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	binary = filepath.Join(dir, "ottr")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", binary, "github.com/ottr/backend/cmd/ottr").CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("build the server (run from the repository, or pass -binary): %w\n%s", err, out)
	}
	return binary, cleanup, nil
}

// runScenario runs one scenario on its own fresh database and server.
func (o *options) runScenario(ctx context.Context, s scenario) (*Report, error) {
	so := *o
	if so.database == "" {
		so.database = string(s.dialects[0])
	}
	if !slices.Contains(s.dialects, store.Dialect(so.database)) {
		if o.all {
			return nil, nil // all -db sqlite: dispatch measures PostgreSQL's LISTEN/NOTIFY
		}
		return nil, fmt.Errorf("does not run on %s", so.database)
	}
	serverKind := so.server
	if so.url != "" {
		serverKind = "external " + so.url
	}
	r := &Report{Scenario: s.name, Database: so.database, Server: serverKind, Concurrency: so.concurrency,
		Rate: so.rate, Duration: so.duration.String()}
	if s.name == "start" {
		r.Concurrency = 1
	}
	e, err := newEnv(ctx, &so)
	if err != nil {
		return nil, err
	}
	r.DatabaseVersion = e.databaseVersion(ctx)
	err = s.run(ctx, e, r)
	err = errors.Join(err, e.close())
	if len(r.Rounds) == 0 {
		return nil, err
	}
	r.summarize()
	r.Goal = s.goal(r)
	return r, err
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// sideSpec is one side of a scenario.
type sideSpec struct {
	name string
	// proc is the process that serves this side, whose CPU time and memory
	// are reported; nil when it is not known or is not a server (SQL sent
	// from this process).
	proc *proc
	// prepare, when set, makes input for about n more ops, untimed; op
	// answers errExhausted once it has used it all.
	prepare func(ctx context.Context, n int) error
	op      op
	// profiled sides are written to -profile.
	profiled bool
	// stopped are the processes stopped (SIGSTOP) while this side runs,
	// its warm-up included, and continued after: the other side's server.
	stopped []*proc
}

// pilotOps is the input prepared for the warm-up of a side with prepared
// input, per worker; the warm-up's rate then sizes the measured phase's.
const pilotOps = 25

// compare runs ours and the baseline alternately for -n rounds (the
// baseline first in every second round, so that neither always runs on a
// warmer machine), adding each round to r.
func (e *env) compare(ctx context.Context, r *Report, ours, baseline sideSpec) error {
	for i := range e.opts.rounds {
		order := []*sideSpec{&ours, &baseline}
		if i%2 == 1 {
			order = []*sideSpec{&baseline, &ours}
		}
		got := map[string]Side{}
		for _, s := range order {
			if ctx.Err() != nil {
				break
			}
			m, err := e.measure(ctx, r.Scenario, s)
			if err != nil {
				return err
			}
			got[s.name] = m
		}
		o, ok := got[ours.name]
		if !ok {
			return nil
		}
		rd := Round{Ours: o}
		if b, ok := got[baseline.name]; ok {
			rd.Baseline = &b
		}
		r.Rounds = append(r.Rounds, rd)
	}
	return nil
}

// measure warms a side up, then measures it for -d.
func (e *env) measure(ctx context.Context, scenario string, s *sideSpec) (Side, error) {
	defer pause(s.stopped)()
	l := load{Concurrency: e.opts.concurrency, Rate: e.opts.rate, Progress: e.opts.progress}
	warm := l
	warm.Duration, warm.Label = e.opts.warmup, scenario+" "+s.name+" warm-up"
	if s.prepare != nil {
		if err := s.prepare(ctx, pilotOps*l.Concurrency); err != nil {
			return Side{}, fmt.Errorf("prepare %s: %w", s.name, err)
		}
		// The warm-up is the pilot that sizes the input: it must run.
		warm.Duration = max(warm.Duration, 500*time.Millisecond)
	}
	pilot := warm.run(ctx, s.op)
	if s.prepare != nil && ctx.Err() == nil {
		rate := pilot.Throughput()
		if e.opts.rate > 0 {
			rate = min(rate, e.opts.rate)
		}
		n := int(rate*e.opts.duration.Seconds()*2.5) + 2*l.Concurrency
		if err := s.prepare(ctx, n); err != nil {
			return Side{}, fmt.Errorf("prepare %s: %w", s.name, err)
		}
	}
	l.Duration, l.Label = e.opts.duration, scenario+" "+s.name
	var before, after usage
	if s.proc != nil {
		_ = s.proc.resetPeak()
		var err error
		if before, err = s.proc.read(); err != nil {
			return Side{}, err
		}
	}
	stop, err := e.startProfile(scenario, s.name, s.profiled)
	if err != nil {
		return Side{}, err
	}
	dbBefore, selfBefore := cpuOf(e.dbProcess()), cpuOf("")
	p := l.run(ctx, s.op)
	dbCPU, selfCPU := cpuOf(e.dbProcess())-dbBefore, cpuOf("")-selfBefore
	if err := stop(); err != nil {
		return Side{}, err
	}
	if s.proc != nil {
		if after, err = s.proc.read(); err != nil {
			return Side{}, err
		}
	}
	out := side(s.name, p, s.proc, before, after)
	if p.Ops > 0 {
		if e.dbProcess() != "" {
			out.DBCPUMsPerOp = perOp(dbCPU, p.Ops)
		}
		if s.proc == nil || !s.proc.shared {
			out.LoadCPUMsPerOp = perOp(selfCPU, p.Ops)
		}
	}
	return out, nil
}

// dbProcess is the command name of the database server's processes, or ""
// for SQLite, which runs inside the server.
func (e *env) dbProcess() string {
	if e.dialect == store.Postgres {
		return "postgres"
	}
	return ""
}

func perOp(cpu time.Duration, ops int64) *float64 {
	v := round(float64(cpu.Microseconds())/1000/float64(ops), 3)
	return &v
}

// startProfile starts the CPU profile of a measured phase, when asked;
// the returned function stops it and writes the allocation profile.
func (e *env) startProfile(scenario, side string, profiled bool) (func() error, error) {
	if e.opts.profileDir == "" || !profiled {
		return func() error { return nil }, nil
	}
	if err := os.MkdirAll(e.opts.profileDir, 0o755); err != nil {
		return nil, fmt.Errorf("profile directory: %w", err)
	}
	base := fmt.Sprintf("%s/%s-%s-%s", e.opts.profileDir, scenario, e.dialect, side)
	f, err := os.Create(base + ".cpu.pprof")
	if err != nil {
		return nil, fmt.Errorf("create CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start CPU profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		errs := []error{f.Close()}
		a, err := os.Create(base + ".allocs.pprof")
		if err != nil {
			return fmt.Errorf("create allocation profile: %w", err)
		}
		errs = append(errs, pprof.Lookup("allocs").WriteTo(a, 0), a.Close())
		return errors.Join(errs...)
	}, nil
}
