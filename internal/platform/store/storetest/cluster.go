package storetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// When nothing answers at the configured PostgreSQL URL, the harness starts
// a throwaway cluster from the installed PostgreSQL server binaries, so that
// the README's test command passes on a machine where PostgreSQL is
// installed but not running. One cluster serves every test binary of a
// `go test` run: it lives in a well-known directory under os.TempDir, keyed
// by user (ClusterDir), created under a file lock beside it, and every
// process that uses it records its id there, together with the `go`
// command that started it. A watcher process stops the cluster and removes
// the directory once none of them runs any more.

var resolved struct {
	once sync.Once
	url  string
	err  error
}

// PostgresURL returns the PostgreSQL server tests create their databases
// on: the configured one (OTTR_TEST_DATABASE_URL, or DefaultPostgresURL)
// when it answers, else a throwaway cluster shared by the test binaries of
// this run. It fails t with what to install or start when neither is
// possible.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u, err := resolveAdminURL()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func resolveAdminURL() (string, error) {
	resolved.once.Do(func() {
		resolved.url, resolved.err = resolve(context.Background(), configuredURL(), ClusterDir(), clusterOwners())
	})
	return resolved.url, resolved.err
}

func configuredURL() string {
	if u := os.Getenv("OTTR_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// ClusterDir is the directory of the throwaway cluster shared by the test
// binaries of one user; its lock file is ClusterDir()+".lock".
func ClusterDir() string {
	return filepath.Join(os.TempDir(), "ottr-test-postgres-"+strconv.Itoa(os.Getuid()))
}

// resolve returns configured when a PostgreSQL server answers there, else
// the URL of the throwaway cluster in dir, started if need be and kept for
// as long as one of the owners runs.
func resolve(ctx context.Context, configured, dir string, owners []int) (string, error) {
	probe := answers(ctx, configured)
	if probe == nil {
		return configured, nil
	}
	u, err := throwawayCluster(ctx, dir, owners)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL is not reachable at %s (%v), and no throwaway cluster could be started in its place: %w\n"+
			"Or point OTTR_TEST_DATABASE_URL at a running server, or set OTTR_TEST_SQLITE_ONLY=1 to run the SQLite half alone.",
			redact(configured), probe, err)
	}
	fmt.Fprintf(os.Stderr, "storetest: nothing answers at %s; using the throwaway PostgreSQL cluster in %s\n", redact(configured), dir)
	return u, nil
}

// answers returns nil when a PostgreSQL server answers at rawURL, even with
// an error of its own (a wrong password, no room for one more connection):
// that is a server to report on, not one to replace. It returns the
// connection error when nothing does.
func answers(ctx context.Context, rawURL string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, rawURL)
	if err == nil {
		_ = conn.Close(ctx)
		return nil
	}
	if _, perr := pgconn.ParseConfig(rawURL); perr != nil {
		return nil // not a URL to replace: let the caller report it
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return nil
	}
	return err
}

// postgresBinaries finds the directory holding initdb and pg_ctl: the
// newest of the Debian and Ubuntu packages' versioned directories matching
// glob, else the PATH. The error names the one package to install.
func postgresBinaries(glob string, lookPath func(string) (string, error)) (string, error) {
	matches, _ := filepath.Glob(glob)
	slices.SortFunc(matches, func(a, b string) int { return compareVersionDirs(b, a) })
	for _, initdb := range matches {
		bin := filepath.Dir(initdb)
		if _, err := os.Stat(filepath.Join(bin, "pg_ctl")); err == nil {
			return bin, nil
		}
	}
	if initdb, err := lookPath("initdb"); err == nil {
		if _, err := lookPath("pg_ctl"); err == nil {
			return filepath.Dir(initdb), nil
		}
	}
	return "", fmt.Errorf("the PostgreSQL server binaries (initdb, pg_ctl) are not installed: `%s`", installLine())
}

func installLine() string {
	if runtime.GOOS == "darwin" {
		return "brew install postgresql"
	}
	return "apt-get install postgresql"
}

// compareVersionDirs orders /usr/lib/postgresql/<major>/bin/initdb paths by
// their major version, numerically.
func compareVersionDirs(a, b string) int {
	major := func(p string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		return n
	}
	if c := major(a) - major(b); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}
