package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The server's process sets the collector's heap floor: /metrics shows a
// GC percentage over 100 while its heap is small; GOGC in the environment
// is left as the operator set it.
func TestServerSetsTheHeapFloorUnlessGOGCIsSet(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "ottr")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	for _, c := range []struct {
		name string
		env  []string
		want func(int) bool
	}{
		{"default", nil, func(p int) bool { return p > 100 }},
		{"GOGC=150", []string{"GOGC=150"}, func(p int) bool { return p == 150 }},
		{"floor off", []string{"OTTR_GC_HEAP_FLOOR_MB=0"}, func(p int) bool { return p == 100 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if p := gcPercentOf(t, bin, c.env); !c.want(p) {
				t.Fatalf("go_gc_gogc_percent = %d", p)
			}
		})
	}
}

// gcPercentOf starts the server binary on SQLite with env and reads
// go_gc_gogc_percent from its /metrics.
func gcPercentOf(t *testing.T, bin string, env []string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(cleanEnv(), "OTTR_ADDR="+addr, "OTTR_DATA_DIR="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if v, ok := strings.CutPrefix(sc.Text(), "go_gc_gogc_percent "); ok {
					p, err := strconv.ParseFloat(v, 64)
					if err != nil {
						t.Fatalf("go_gc_gogc_percent %q: %v", v, err)
					}
					return int(p)
				}
			}
			t.Fatalf("no go_gc_gogc_percent in /metrics (status %d)", resp.StatusCode)
		}
		if ctx.Err() != nil {
			t.Fatalf("the server did not answer on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cleanEnv is the test's environment without the settings that would
// change what the server starts with.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTTR_") && !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") {
			out = append(out, kv)
		}
	}
	return out
}
