package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Side is what one side of a scenario (ours or the baseline) measured in
// one round, or the medians over the rounds.
type Side struct {
	Name       string  `json:"name"`
	Ops        int64   `json:"ops"`
	Errors     int64   `json:"errors"`
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"throughputPerSecond"`
	P50Ms      float64 `json:"p50Ms"`
	P95Ms      float64 `json:"p95Ms"`
	P99Ms      float64 `json:"p99Ms"`
	// CPUSeconds and PeakRSSMB are the serving process's (the server, or
	// the baseline's server); absent when it is not known, e.g. for SQL
	// sent from this process.
	CPUSeconds *float64 `json:"cpuSeconds,omitempty"`
	CPUMsPerOp *float64 `json:"cpuMsPerOp,omitempty"`
	PeakRSSMB  *float64 `json:"peakRssMB,omitempty"`
	// DBCPUMsPerOp is the CPU time of the database server's processes
	// (every process named postgres) per op: on a shared machine it
	// includes whatever else uses that server.
	DBCPUMsPerOp *float64 `json:"dbCpuMsPerOp,omitempty"`
	// LoadCPUMsPerOp is the load generator's CPU time per op (this
	// process: for a baseline that sends its SQL from here, the client's
	// share of the work); absent when the server runs in this process.
	LoadCPUMsPerOp *float64 `json:"loadCpuMsPerOp,omitempty"`
	// SharedProcess says the CPU and memory include the load generator,
	// which ran in the same process.
	SharedProcess bool `json:"sharedProcess,omitempty"`
	// Extra holds figures particular to a scenario (start: idle memory).
	Extra        map[string]float64 `json:"extra,omitempty"`
	ErrorSamples []string           `json:"errorSamples,omitempty"`
	Cut          string             `json:"cut,omitempty"`
}

// side turns a phase and the serving process's usage into a Side.
func side(name string, p *phase, pr *proc, before, after usage) Side {
	s := Side{Name: name, Ops: p.Ops, Errors: p.Errors, Seconds: round(p.Elapsed.Seconds(), 3),
		Throughput: round(p.Throughput(), 1), P50Ms: ms(p.Percentile(0.50)), P95Ms: ms(p.Percentile(0.95)),
		P99Ms: ms(p.Percentile(0.99)), ErrorSamples: p.ErrorSamples, Cut: p.Cut}
	if pr != nil {
		cpu := round((after.cpu - before.cpu).Seconds(), 2)
		s.CPUSeconds = &cpu
		if p.Ops > 0 {
			per := round(float64((after.cpu-before.cpu).Microseconds())/1000/float64(p.Ops), 3)
			s.CPUMsPerOp = &per
		}
		peak := mb(after.hwm)
		s.PeakRSSMB = &peak
		s.SharedProcess = pr.shared
	}
	return s
}

func ms(d time.Duration) float64 { return round(float64(d.Microseconds())/1000, 2) }
func mb(bytes int64) float64     { return round(float64(bytes)/(1<<20), 1) }

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// Round is one alternation of ours and the baseline.
type Round struct {
	Ours     Side  `json:"ours"`
	Baseline *Side `json:"baseline,omitempty"`
}

// Report is one scenario's result.
type Report struct {
	Scenario string `json:"scenario"`
	Database string `json:"database"`
	// DatabaseVersion names the database's server or library and version.
	DatabaseVersion string  `json:"databaseVersion"`
	Server          string  `json:"server"`
	Concurrency     int     `json:"concurrency"`
	Rate            float64 `json:"ratePerSecond,omitempty"`
	Duration        string  `json:"durationPerSide"`
	// Ours and Baseline are the medians over Rounds.
	Ours     Side    `json:"ours"`
	Baseline *Side   `json:"baseline,omitempty"`
	Rounds   []Round `json:"rounds"`
	// Ratio is ours against the baseline: throughput (higher is better),
	// p99 latency (lower is better).
	Ratio *Ratio `json:"ratio,omitempty"`
	Goal  Goal   `json:"goal"`
	// Stages, in webhooks, are where a delivery's time went, stage by
	// stage, over the measured phases' deliveries, and the total from the
	// confirmed commit to the receiver over the same phases.
	Stages []Stage `json:"stages,omitempty"`
	// Notes say how the scenario differs from the description, and
	// why, and anything else a reader of the figures must know.
	Notes []string `json:"notes,omitempty"`
}

// Ratio compares ours to the baseline.
type Ratio struct {
	Throughput float64 `json:"throughput"`
	P95        float64 `json:"p95,omitempty"`
	P99        float64 `json:"p99,omitempty"`
}

// Goal is the scenario's target and whether this run met it.
type Goal struct {
	Text string `json:"text"`
	Met  bool   `json:"met"`
	// Why says what missed the goal, when it was missed.
	Why string `json:"why,omitempty"`
}

// summarize fills in the medians and the ratio from the rounds.
func (r *Report) summarize() {
	r.Ours = medianSide(r.Rounds, func(rd Round) *Side { return &rd.Ours })
	if len(r.Rounds) > 0 && r.Rounds[0].Baseline != nil {
		b := medianSide(r.Rounds, func(rd Round) *Side { return rd.Baseline })
		r.Baseline = &b
		if b.Throughput > 0 {
			r.Ratio = &Ratio{Throughput: round(r.Ours.Throughput/b.Throughput, 3)}
			if b.P95Ms > 0 {
				r.Ratio.P95 = round(r.Ours.P95Ms/b.P95Ms, 3)
			}
			if b.P99Ms > 0 {
				r.Ratio.P99 = round(r.Ours.P99Ms/b.P99Ms, 3)
			}
		}
	}
}

// medianSide takes each figure's median over the rounds (counts are
// summed: they say how much was measured).
func medianSide(rounds []Round, get func(Round) *Side) Side {
	var sides []*Side
	for _, rd := range rounds {
		if s := get(rd); s != nil {
			sides = append(sides, s)
		}
	}
	if len(sides) == 1 {
		return *sides[0]
	}
	med := func(f func(*Side) float64) float64 {
		vals := make([]float64, len(sides))
		for i, s := range sides {
			vals[i] = f(s)
		}
		slices.Sort(vals)
		if n := len(vals); n%2 == 0 {
			return round((vals[n/2-1]+vals[n/2])/2, 3)
		}
		return vals[len(vals)/2]
	}
	optMed := func(f func(*Side) *float64) *float64 {
		for _, s := range sides {
			if f(s) == nil {
				return nil
			}
		}
		v := med(func(s *Side) float64 { return *f(s) })
		return &v
	}
	out := Side{Name: sides[0].Name, SharedProcess: sides[0].SharedProcess,
		Throughput:     med(func(s *Side) float64 { return s.Throughput }),
		P50Ms:          med(func(s *Side) float64 { return s.P50Ms }),
		P95Ms:          med(func(s *Side) float64 { return s.P95Ms }),
		P99Ms:          med(func(s *Side) float64 { return s.P99Ms }),
		CPUSeconds:     optMed(func(s *Side) *float64 { return s.CPUSeconds }),
		CPUMsPerOp:     optMed(func(s *Side) *float64 { return s.CPUMsPerOp }),
		PeakRSSMB:      optMed(func(s *Side) *float64 { return s.PeakRSSMB }),
		DBCPUMsPerOp:   optMed(func(s *Side) *float64 { return s.DBCPUMsPerOp }),
		LoadCPUMsPerOp: optMed(func(s *Side) *float64 { return s.LoadCPUMsPerOp }),
	}
	for _, s := range sides {
		out.Ops += s.Ops
		out.Errors += s.Errors
		out.Seconds += s.Seconds
		for _, e := range s.ErrorSamples {
			if len(out.ErrorSamples) < maxErrorSamples && !slices.Contains(out.ErrorSamples, e) {
				out.ErrorSamples = append(out.ErrorSamples, e)
			}
		}
		if s.Cut != "" && out.Cut == "" {
			out.Cut = s.Cut
		}
	}
	for k := range sides[0].Extra {
		if out.Extra == nil {
			out.Extra = map[string]float64{}
		}
		out.Extra[k] = med(func(s *Side) float64 { return s.Extra[k] })
	}
	return out
}

// Results is everything one invocation measured: the JSON file's content.
type Results struct {
	Command string    `json:"command"`
	Machine machine   `json:"machine"`
	Reports []*Report `json:"reports"`
}

func (res *Results) writeJSON(path string) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// writeTable prints the results for people.
func (res *Results) writeTable(w io.Writer) {
	m := res.Machine
	fmt.Fprintf(w, "\n%s\n%d cores (%s), %.1f GiB, %s, %s", res.Command, m.Cores, m.CPU, m.MemoryGiB, m.OS, m.Go)
	for _, d := range m.Databases {
		fmt.Fprintf(w, ", %s", d)
	}
	fmt.Fprintf(w, "\nstarted %s, load average %s at start, %s at end\n\n", m.StartedAtUTC, loads(m.LoadAtStart), loads(m.LoadAtEnd))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tdatabase\tside\tconc\tops\tops/s\tp50 ms\tp95 ms\tp99 ms\terrors\tcpu s\tcpu ms/op\tdb ms/op\tload ms/op\tpeak RSS MB\t")
	for _, r := range res.Reports {
		conc := fmt.Sprint(r.Concurrency)
		if r.Rate > 0 {
			conc = fmt.Sprintf("%d@%g/s", r.Concurrency, r.Rate)
		}
		sides := []Side{r.Ours}
		if r.Baseline != nil {
			sides = append(sides, *r.Baseline)
		}
		for _, s := range sides {
			shared := ""
			if s.SharedProcess {
				shared = "*"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%d\t%s\t%s\t%s\t%s\t%s\t\n",
				r.Scenario, r.Database, s.Name, conc, s.Ops, s.Throughput, s.P50Ms, s.P95Ms, s.P99Ms, s.Errors,
				opt(s.CPUSeconds, "%.2f")+shared, opt(s.CPUMsPerOp, "%.3f")+shared, opt(s.DBCPUMsPerOp, "%.3f"),
				opt(s.LoadCPUMsPerOp, "%.3f"), opt(s.PeakRSSMB, "%.1f")+shared)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, r := range res.Reports {
		met := "met"
		if !r.Goal.Met {
			met = "NOT MET: " + r.Goal.Why
		}
		line := fmt.Sprintf("%s/%s: ", r.Scenario, r.Database)
		if r.Ratio != nil && r.Baseline != nil {
			line += fmt.Sprintf("ratio %s/%s: throughput %.3f", r.Ours.Name, r.Baseline.Name, r.Ratio.Throughput)
			if r.Ratio.P95 > 0 {
				line += fmt.Sprintf(", p95 %.2f×", r.Ratio.P95)
			}
			if r.Ratio.P99 > 0 {
				line += fmt.Sprintf(", p99 %.2f×", r.Ratio.P99)
			}
			line += "; "
		}
		fmt.Fprintf(w, "%sgoal %s: %s\n", line, r.Goal.Text, met)
		for _, s := range []*Side{&r.Ours, r.Baseline} {
			if s == nil {
				continue
			}
			if len(s.Extra) > 0 {
				var extra []string
				for _, k := range sortedKeys(s.Extra) {
					extra = append(extra, fmt.Sprintf("%s %g", k, s.Extra[k]))
				}
				fmt.Fprintf(w, "  %s: %s\n", s.Name, strings.Join(extra, ", "))
			}
			if s.Cut != "" {
				fmt.Fprintf(w, "  %s ended early: %s\n", s.Name, s.Cut)
			}
			for _, e := range s.ErrorSamples {
				fmt.Fprintf(w, "  %s error: %s\n", s.Name, e)
			}
		}
		writeStages(w, r.Stages)
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
	for _, r := range res.Reports {
		if r.Ours.SharedProcess || (r.Baseline != nil && r.Baseline.SharedProcess) {
			fmt.Fprintln(w, "* served from this process: CPU and memory include the load generator's")
			break
		}
	}
}

func opt(v *float64, format string) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf(format, *v)
}

func loads(l []float64) string {
	if len(l) == 0 {
		return "?"
	}
	parts := make([]string, len(l))
	for i, v := range l {
		parts[i] = fmt.Sprintf("%.2f", v)
	}
	return strings.Join(parts, " ")
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// writeStages prints a report's stages, if it has any.
func writeStages(w io.Writer, stages []Stage) {
	if len(stages) == 0 {
		return
	}
	fmt.Fprintln(w, "  stages of the measured phases' deliveries:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "    stage\tfrom → to\tdeliveries\t  p50 ms\t  p95 ms\t  p99 ms")
	for _, s := range stages {
		fmt.Fprintf(tw, "    %s\t%s\t%10d\t%8.2f\t%8.2f\t%8.2f\n", s.Name, s.Span, s.Deliveries, s.P50Ms, s.P95Ms, s.P99Ms)
	}
	tw.Flush()
}
