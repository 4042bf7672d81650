package bench

import (
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
	before := cpuOf("")
	for deadline := time.Now().Add(150 * time.Millisecond); time.Now().Before(deadline); {
	}
	if got := cpuOf("") - before; got < 50*time.Millisecond {
		t.Fatalf("this process used %v of CPU while spinning for 150 ms", got)
	}
	if got := cpuOf("no-process-has-this-name"); got != 0 {
		t.Fatalf("CPU of no process = %v", got)
	}
}
