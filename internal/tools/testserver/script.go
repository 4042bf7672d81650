package testserver

import (
	"bufio"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Script is what a shell script printed and how it ended.
type Script struct {
	Stdout, Stderr string
	ExitCode       int
	Err            error // from Wait: nil when it exited 0
}

// RunScript runs bash with args and env (at most two minutes), handing
// each line the script prints to onLine as it comes, so that a test can
// act on a link while the script waits for the decision.
func RunScript(t testing.TB, env []string, onLine func(line string), args ...string) Script {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", args...)
	cmd.Env = env
	var stderr, out strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		onLine(sc.Text())
	}
	err = cmd.Wait()
	return Script{Stdout: out.String(), Stderr: stderr.String(), ExitCode: cmd.ProcessState.ExitCode(), Err: err}
}
