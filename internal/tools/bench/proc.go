package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of CPU times in /proc/<pid>/stat: USER_HZ, 100 on
// every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// proc reads a process's CPU time and memory from /proc (Linux only).
type proc struct {
	pid int
	// shared is set when the process also runs the load generator (the
	// in-process server): its figures are the sum of both.
	shared bool
}

// usage is a process's counters at one moment.
type usage struct {
	cpu time.Duration // user + system
	rss int64         // bytes
	hwm int64         // peak resident set since start or the last resetPeak
}

func (p *proc) read() (usage, error) {
	var u usage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return u, fmt.Errorf("read CPU time of process %d: %w", p.pid, err)
	}
	if _, u.cpu, err = parseStat(stat); err != nil {
		return u, fmt.Errorf("read CPU time of process %d: %w", p.pid, err)
	}
	status, err := os.Open(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return u, fmt.Errorf("read memory of process %d: %w", p.pid, err)
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB")), 10, 64)
		if err != nil {
			return u, fmt.Errorf("read memory of process %d: %s: %w", p.pid, name, err)
		}
		if name == "VmRSS" {
			u.rss = kb << 10
		} else {
			u.hwm = kb << 10
		}
	}
	return u, sc.Err()
}

// cpuOf is the CPU time (user + system) of the processes whose command
// name is comm, or of this process when comm is "": the database server's
// backends, say, or the load generator's own share of a phase.
func cpuOf(comm string) time.Duration {
	if comm == "" {
		return statCPU("/proc/self/stat", "")
	}
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, d := range dirs {
		if d.Name()[0] < '0' || d.Name()[0] > '9' {
			continue
		}
		total += statCPU("/proc/"+d.Name()+"/stat", comm)
	}
	return total
}

// statCPU reads utime + stime from a stat file, when the process's
// command name is comm (any, when comm is ""); 0 otherwise.
func statCPU(path, comm string) time.Duration {
	stat, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	name, cpu, err := parseStat(stat)
	if err != nil || (comm != "" && name != comm) {
		return 0
	}
	return cpu
}

// parseStat reads the command name and utime + stime of a
// /proc/<pid>/stat line. The name, field 2, may hold spaces; the fields
// after its closing parenthesis are plain; utime and stime are fields 14
// and 15.
func parseStat(stat []byte) (comm string, cpu time.Duration, err error) {
	open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return "", 0, fmt.Errorf("no command name in stat line")
	}
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 13 {
		return "", 0, fmt.Errorf("short stat line")
	}
	for _, f := range fields[11:13] {
		ticks, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return "", 0, fmt.Errorf("CPU time in stat line: %w", err)
		}
		cpu += time.Duration(ticks) * clockTick
	}
	return string(stat[open+1 : end]), cpu, nil
}

// resetPeak starts a new peak resident set measurement (Linux ≥ 4.0), so
// that a phase's peak is its own and not the setup's.
func (p *proc) resetPeak() error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.pid), []byte("5"), 0)
}

// machine describes the computer a run was made on.
type machine struct {
	Cores        int       `json:"cores"`
	CPU          string    `json:"cpu"`
	MemoryGiB    float64   `json:"memoryGiB"`
	OS           string    `json:"os"`
	Go           string    `json:"go"`
	Databases    []string  `json:"databases,omitempty"`
	LoadAtStart  []float64 `json:"loadAverageAtStart"`
	LoadAtEnd    []float64 `json:"loadAverageAtEnd,omitempty"`
	StartedAtUTC string    `json:"startedAt"`
}

func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version(),
		LoadAtStart: loadAverage(), StartedAtUTC: time.Now().UTC().Format(time.RFC3339)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				m.CPU = strings.TrimSpace(value)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
				m.MemoryGiB = float64(int(kb/(1<<20)*10+0.5)) / 10
			}
		}
	}
	return m
}

// loadAverage is the 1, 5 and 15 minute load average, or nil.
func loadAverage() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	var out []float64
	for _, f := range strings.Fields(string(b))[:3] {
		v, _ := strconv.ParseFloat(f, 64)
		out = append(out, v)
	}
	return out
}
