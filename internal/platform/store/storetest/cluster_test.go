//go:build unix

package storetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestThrowawayCluster points the harness at a port where nothing listens
// and checks that it starts a cluster from the installed binaries that
// answers with room for the suite, that a second test binary joins it
// rather than starting another, and that it is gone once its owners are.
// The machine's own server is left alone: the cluster gets a port of its
// own and a directory of its own.
func TestThrowawayCluster(t *testing.T) {
	if _, err := postgresBinaries("/usr/lib/postgresql/*/bin/initdb", exec.LookPath); err != nil {
		t.Skipf("no PostgreSQL server binaries to start a cluster from: %v", err)
	}
	ctx := context.Background()
	port, err := freePort()
	Must(t, err)
	nothing := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=5", port)
	if answers(ctx, nothing) == nil {
		t.Fatalf("something answers at %s", nothing)
	}
	machineBefore := answers(ctx, DefaultPostgresURL) == nil

	base, err := os.MkdirTemp("", "ottr-storetest-cluster-")
	Must(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	Must(t, os.Chmod(base, 0o755)) // the server's user walks through it when running as root
	dir := filepath.Join(base, "cluster")

	// Two owners standing in for two test binaries of one run.
	first, second := sleeper(t), sleeper(t)
	u, err := resolve(ctx, nothing, dir, []int{first.Process.Pid})
	Must(t, err)
	if u == nothing || strings.Contains(u, ":5432/") {
		t.Fatalf("resolved to %s", u)
	}
	conn, err := pgx.Connect(ctx, u)
	Must(t, err)
	var maxConnections string
	Must(t, conn.QueryRow(ctx, "SHOW max_connections").Scan(&maxConnections))
	_ = conn.Close(ctx)
	if maxConnections != "300" {
		t.Errorf("max_connections = %s, want 300", maxConnections)
	}
	// The harness creates databases on it as it does on the machine's.
	conn, err = pgx.Connect(ctx, u)
	Must(t, err)
	_, err = conn.Exec(ctx, "CREATE DATABASE ottr_cluster_probe")
	Must(t, err)
	_ = conn.Close(ctx)

	again, err := resolve(ctx, nothing, dir, []int{second.Process.Pid})
	Must(t, err)
	if again != u {
		t.Fatalf("second binary got %s, want the running cluster %s", again, u)
	}

	// The cluster stays while one owner runs.
	stop(t, first)
	time.Sleep(3 * time.Second)
	if answers(ctx, u) != nil {
		t.Fatal("the cluster went while an owner still ran")
	}
	stop(t, second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, statErr := os.Stat(dir)
		if answers(ctx, u) != nil && errors.Is(statErr, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not removed 30 s after its last owner ended (directory: %v)", statErr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if machineAfter := answers(ctx, DefaultPostgresURL) == nil; machineAfter != machineBefore {
		t.Errorf("the server at %s answered %v before, %v after", DefaultPostgresURL, machineBefore, machineAfter)
	}
}

// TestThrowawayClusterNeedsBinaries checks that without the server
// binaries the harness names the one package to install.
func TestThrowawayClusterNeedsBinaries(t *testing.T) {
	t.Parallel()
	_, err := postgresBinaries(filepath.Join(t.TempDir(), "*", "bin", "initdb"), func(string) (string, error) { return "", exec.ErrNotFound })
	if err == nil || !strings.Contains(err.Error(), "`"+installLine()+"`") {
		t.Fatalf("error %v, want the install line %q", err, installLine())
	}
}

// TestPostgresBinariesNewest checks that the newest installed major
// version is picked, numerically.
func TestPostgresBinariesNewest(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, v := range []string{"9", "16", "17"} {
		bin := filepath.Join(root, v, "bin")
		Must(t, os.MkdirAll(bin, 0o755))
		for _, name := range []string{"initdb", "pg_ctl"} {
			Must(t, os.WriteFile(filepath.Join(bin, name), nil, 0o755))
		}
	}
	bin, err := postgresBinaries(filepath.Join(root, "*", "bin", "initdb"), exec.LookPath)
	Must(t, err)
	if want := filepath.Join(root, "17", "bin"); bin != want {
		t.Fatalf("picked %s, want %s", bin, want)
	}
}

func sleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	Must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func stop(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	Must(t, cmd.Process.Kill())
	_ = cmd.Wait()
}
