//go:build unix

package storetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The cluster directory holds:
//
//	data/        the cluster, owned by the user the server runs as
//	url          the admin URL, written once the server answers
//	owners/PID   one empty file per process the cluster is kept for
//	watcher      the process id of the watcher
//
// and the lock file beside it (never removed, so that no two processes
// ever hold locks on different files).

// clusterOwners is this test binary and, when a `go` command started it,
// that command too: the cluster then outlives the gaps between the test
// binaries of one `go test ./...` and goes when the run ends.
func clusterOwners() []int {
	owners := []int{os.Getpid()}
	if ppid := os.Getppid(); ppid > 1 {
		if comm, err := os.ReadFile("/proc/" + strconv.Itoa(ppid) + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "go" {
			owners = append(owners, ppid)
		}
	}
	return owners
}

func throwawayCluster(ctx context.Context, dir string, owners []int) (string, error) {
	bin, err := postgresBinaries("/usr/lib/postgresql/*/bin/initdb", exec.LookPath)
	if err != nil {
		return "", err
	}
	unlock, err := lockFile(dir + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if err := ownDir(dir); err != nil {
		return "", err
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "url")); err == nil && answers(ctx, string(raw)) == nil {
		if err := addOwners(dir, owners); err != nil {
			return "", err
		}
		return string(raw), ensureWatcher(dir)
	}
	stopStale(dir)
	for _, name := range []string{"data", "url", "owners", "watcher"} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("remove the stale cluster: %w", err)
		}
	}
	if err := addOwners(dir, owners); err != nil {
		return "", err
	}
	// The watcher runs before the server starts, so that a cluster left
	// half-started by a failure here is removed all the same.
	if err := ensureWatcher(dir); err != nil {
		return "", err
	}
	u, err := startCluster(ctx, bin, dir)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "url"), []byte(u), 0o644); err != nil {
		return "", err
	}
	return u, nil
}

// lockFile takes an exclusive lock on path, waiting for it.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the cluster lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { _ = f.Close() }, nil
}

// ownDir creates dir, readable by the server's user, and refuses one that
// another user made (a shared temporary directory).
func ownDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || (ok && int(st.Uid) != os.Getuid()) {
		return fmt.Errorf("%s is not a directory of this user: remove it", dir)
	}
	return os.Chmod(dir, 0o755)
}

func addOwners(dir string, owners []int) error {
	if err := os.MkdirAll(filepath.Join(dir, "owners"), 0o755); err != nil {
		return err
	}
	for _, pid := range owners {
		if err := os.WriteFile(filepath.Join(dir, "owners", strconv.Itoa(pid)), nil, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// stopStale stops the server of a cluster that no longer answers, if it
// still runs, before its directory is reused.
func stopStale(dir string) {
	pid := postmasterPID(dir)
	if pid <= 0 {
		return
	}
	if comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); err != nil || !strings.HasPrefix(strings.TrimSpace(string(comm)), "postgres") {
		return // gone, or the id now belongs to another process
	}
	_ = syscall.Kill(pid, syscall.SIGQUIT)
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
}

func postmasterPID(dir string) int {
	raw, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(raw), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}

// watcherScript stops the cluster and removes its directory once no owner
// runs, under the same lock as the processes that join it. It stops the
// server by signal (SIGINT: fast shutdown), which needs no change of user.
const watcherScript = `
dir=$1
exec 9>>"$dir.lock"
while :; do
	sleep 1
	flock 9
	alive=
	for f in "$dir"/owners/*; do
		[ -e "$f" ] || continue
		if kill -0 "${f##*/}" 2>/dev/null; then alive=1; else rm -f "$f"; fi
	done
	if [ -z "$alive" ]; then
		pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null)
		if [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null; then
			i=0
			while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
		fi
		rm -rf "$dir"
		exit 0
	fi
	flock -u 9
done
`

// ensureWatcher starts the cluster's watcher unless it runs already. The
// watcher is a session of its own with no standard streams, so that
// neither the test binary's end nor `go test` waiting on its output holds
// on to it.
func ensureWatcher(dir string) error {
	if raw, err := os.ReadFile(filepath.Join(dir, "watcher")); err == nil {
		if pid, _ := strconv.Atoi(string(raw)); pid > 0 && syscall.Kill(pid, 0) == nil {
			return nil
		}
	}
	if _, err := exec.LookPath("flock"); err != nil {
		return fmt.Errorf("the flock command (util-linux) is missing: `apt-get install util-linux`")
	}
	cmd := exec.Command("/bin/sh", "-c", watcherScript, "ottr-test-postgres-watcher", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the cluster's watcher: %w", err)
	}
	pid := cmd.Process.Pid
	// Not waited for: it ends only once this process has (an owner), and a
	// goroutine blocked on it would outlive the tests.
	_ = cmd.Process.Release()
	return os.WriteFile(filepath.Join(dir, "watcher"), []byte(strconv.Itoa(pid)), 0o644)
}

// startCluster runs initdb into dir/data and starts the server on a free
// local port, by TCP only, with trust authentication, room for the suite's
// connections and no fsync. initdb refuses to run as root: then both run
// as the postgres user (or nobody).
func startCluster(ctx context.Context, bin, dir string) (string, error) {
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return "", err
	}
	as, err := serverUser(data)
	if err != nil {
		return "", err
	}
	run := func(name string, args ...string) error {
		argv := append(as, append([]string{filepath.Join(bin, name)}, args...)...)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", name, err, out)
		}
		return nil
	}
	if err := run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return "", err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return "", err
		}
		conf := fmt.Sprintf("\n# throwaway test cluster\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = ''\n"+
			"max_connections = 300\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n", port)
		if err := appendFile(filepath.Join(data, "postgresql.conf"), conf); err != nil {
			return "", err
		}
		if lastErr = run("pg_ctl", "-D", data, "-l", filepath.Join(data, "server.log"), "-w", "-t", "60", "start"); lastErr == nil {
			return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), nil
		}
	}
	return "", lastErr
}

// serverUser returns the command prefix that runs a PostgreSQL binary as
// a user initdb accepts, after giving it the data directory: none when
// this process is not root.
func serverUser(data string) ([]string, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var u *user.User
	var err error
	for _, name := range []string{"postgres", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("initdb does not run as root, and there is no postgres or nobody user to run it as: `useradd --system postgres`")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(data, uid, gid); err != nil {
		return nil, err
	}
	if p, err := exec.LookPath("runuser"); err == nil {
		return []string{p, "-u", u.Username, "--"}, nil
	}
	if p, err := exec.LookPath("setpriv"); err == nil {
		return []string{p, "--reuid=" + u.Uid, "--regid=" + u.Gid, "--init-groups"}, nil
	}
	return nil, fmt.Errorf("initdb does not run as root, and neither runuser nor setpriv is there to run it as %s: `apt-get install util-linux`", u.Username)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
