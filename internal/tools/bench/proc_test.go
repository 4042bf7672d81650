package bench

import (
	"syscall"
	"testing"
	"time"
)

func TestParseStatReadsNameAndCPU(t *testing.T) {
	// A command name with spaces and a parenthesis, as /proc writes it;
	// utime 150 and stime 50 ticks.
	line := []byte("4242 (post gres) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 1 0 100 0 0")
	comm, cpu, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if comm != "post gres) x" || cpu != 2*time.Second {
		t.Fatalf("parseStat = %q, %v; want %q, 2s", comm, cpu, "post gres) x")
	}
	if _, _, err := parseStat([]byte("4242 (short) S 1")); err == nil {
		t.Fatal("a short stat line parsed")
	}
}

func TestCPUOfCountsThisProcessAndItsNamesakes(t *testing.T) {
	// Spin until the kernel's own account (getrusage) says this process
	// used 150 ms more CPU, however long a loaded machine takes to give it.
	before, ruBefore := cpuOf(""), rusageCPU(t)
	for deadline := time.Now().Add(time.Minute); rusageCPU(t)-ruBefore < 150*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Fatal("the process was not given 150 ms of CPU in a minute")
		}
	}
	if got := cpuOf("") - before; got < 100*time.Millisecond {
		t.Fatalf("cpuOf saw %v of CPU where getrusage saw at least 150 ms", got)
	}
	if got := cpuOf("no-process-has-this-name"); got != 0 {
		t.Fatalf("CPU of no process = %v", got)
	}
}

// rusageCPU is the user and system CPU this process has used, as
// getrusage reports it.
func rusageCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
