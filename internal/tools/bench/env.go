package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	ottr "github.com/ottr/backend"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/gcfloor"
	"github.com/ottr/backend/internal/platform/store"
)

// env is what one scenario runs against: a database, the server under test
// on it, and a scratch directory. Everything it made is removed by close.
type env struct {
	opts    *options
	dialect store.Dialect
	dbURL   string // PostgreSQL: the database of the server and of the baselines
	dataDir string // SQLite: the server's data directory, where ottr.db is
	tmp     string
	// extraEnv is added to the server's configuration (a scenario's fake
	// Slack).
	extraEnv map[string]string
	// secrets are the servers' JWT secret and encryption key: one pair for
	// every instance on the database, as in production.
	jwtSecret, encryptionKey string
	servers                  int // started so far, naming their logs
	closers                  []func() error
}

// serverName names the next server under test (its log file).
func (e *env) serverName() string {
	e.servers++
	if e.servers == 1 {
		return "server"
	}
	return fmt.Sprintf("server-%d", e.servers)
}

func newEnv(ctx context.Context, o *options) (*env, error) {
	tmp, err := os.MkdirTemp("", "ottr-bench-")
	if err != nil {
		return nil, fmt.Errorf("scratch directory: %w", err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	e := &env{opts: o, dialect: store.Dialect(o.database), tmp: tmp,
		jwtSecret: randomHex(32), encryptionKey: base64.StdEncoding.EncodeToString(key)}
	e.closers = append(e.closers, func() error { return os.RemoveAll(tmp) })
	switch {
	case e.dialect == store.SQLite:
		e.dataDir = o.dataDir
		if e.dataDir == "" {
			e.dataDir = filepath.Join(tmp, "data")
		}
	case o.databaseURL != "":
		e.dbURL = o.databaseURL
	default:
		if e.dbURL, err = e.freshDatabase(ctx); err != nil {
			_ = e.close()
			return nil, err
		}
	}
	return e, nil
}

// sub is an env on the same database and scratch directory whose close
// stops only what was started through it.
func (e *env) sub() *env {
	return &env{opts: e.opts, dialect: e.dialect, dbURL: e.dbURL, dataDir: e.dataDir, tmp: e.tmp, extraEnv: e.extraEnv,
		jwtSecret: e.jwtSecret, encryptionKey: e.encryptionKey}
}

// close stops what the scenario started and drops its fresh database, in
// reverse order of start.
func (e *env) close() error {
	var errs []error
	for i := len(e.closers) - 1; i >= 0; i-- {
		errs = append(errs, e.closers[i]())
	}
	e.closers = nil
	return errors.Join(errs...)
}

// databaseVersion names the database the scenario runs on: PostgreSQL's
// server version, or the SQLite library built in.
func (e *env) databaseVersion(ctx context.Context) string {
	if e.dialect == store.SQLite {
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, m := range info.Deps {
				if m.Path == "modernc.org/sqlite" {
					return "SQLite (modernc.org/sqlite " + m.Version + ")"
				}
			}
		}
		return "SQLite"
	}
	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		return "PostgreSQL"
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var v string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "PostgreSQL"
	}
	return "PostgreSQL " + strings.Fields(v)[0]
}

// freshDatabase creates an empty database on the admin URL's server, to be
// dropped by close.
func (e *env) freshDatabase(ctx context.Context) (string, error) {
	admin, err := pgx.Connect(ctx, e.opts.adminURL)
	if err != nil {
		return "", fmt.Errorf("connect to PostgreSQL at %s to create the benchmark database: %w", redact(e.opts.adminURL), err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	name := "ottr_bench_" + randomHex(6)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	e.closers = append(e.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, e.opts.adminURL)
		if err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	})
	u, err := url.Parse(e.opts.adminURL)
	if err != nil {
		return "", fmt.Errorf("parse -admin-url: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// server is a running HTTP server: ours or the read baseline's.
type server struct {
	url  string
	proc *proc // nil when its process is not known (-url without -pid)
	logs string
}

// serverEnv is the server's configuration, as environment variables: a
// child process gets them as they are, the in-process server reads them
// through config.FromEnv, so that both run the same configuration.
func (e *env) serverEnv(addr string) map[string]string {
	vars := map[string]string{
		"OTTR_ADDR":           addr,
		"OTTR_DATABASE_URL":   e.dbURL,
		"OTTR_DATA_DIR":       e.dataDir,
		"OTTR_PUBLIC_URL":     "http://" + addr,
		"OTTR_JWT_SECRET":     e.jwtSecret,
		"OTTR_ENCRYPTION_KEY": e.encryptionKey,
		"OTTR_PLAYGROUND":     "false",
		"OTTR_LOG_FORMAT":     "text",
		// The fan-out's audience is one key on one address.
		"OTTR_LIVE_CONNECTIONS_PER_PRINCIPAL":   "1000000",
		"OTTR_LIVE_SUBSCRIPTIONS_PER_PRINCIPAL": "1000000",
		"OTTR_LIVE_CONNECTIONS_PER_ADDRESS":     "1000000",
		"OTTR_LIVE_SUBSCRIPTIONS_PER_ADDRESS":   "1000000",
	}
	maps.Copy(vars, e.extraEnv)
	return vars
}

// startOurs runs the server under test as -server says, or uses -url.
func (e *env) startOurs(ctx context.Context) (*server, error) {
	if e.opts.url != "" {
		s := &server{url: strings.TrimRight(e.opts.url, "/")}
		if e.opts.pid > 0 {
			s.proc = &proc{pid: e.opts.pid}
		}
		return s, nil
	}
	if e.opts.server == serverInProcess {
		return e.startInProcess(ctx)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	return e.startService(ctx, e.serverName(), addr, e.serverEnv(addr), nil, "/readyz")
}

// startInProcess runs the server in this process, as server.go does.
func (e *env) startInProcess(ctx context.Context) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	vars := e.serverEnv(ln.Addr().String())
	logs, logger, err := e.logFile(e.serverName())
	if err != nil {
		ln.Close()
		return nil, err
	}
	// As a child's environment (childEnv): vars, and this process's own
	// variables but its OTTR_ ones (GOGC turns the heap floor off).
	cfg, err := config.FromEnv(func(k string) string {
		if strings.HasPrefix(k, "OTTR_") {
			return vars[k]
		}
		return os.Getenv(k)
	}, logger)
	if err != nil {
		ln.Close()
		return nil, err
	}
	a, err := ottr.New(ctx, cfg, logger)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("start the server: %w (log: %s)", err, logs)
	}
	if cfg.GCHeapFloor > 0 { // as cmd/ottr does; the load generator shares it
		stop := gcfloor.Start(cfg.GCHeapFloor)
		e.closers = append(e.closers, func() error { stop(); return nil })
	}
	e.serveInProcess(ln, a.Handler(), a.Close)
	return &server{url: "http://" + ln.Addr().String(), proc: &proc{pid: os.Getpid(), shared: true}, logs: logs}, nil
}

// serveInProcess serves h on ln until the env closes; then closeAll runs.
func (e *env) serveInProcess(ln net.Listener, h http.Handler, closeAll func() error) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = srv.Serve(ln) }()
	e.closers = append(e.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return errors.Join(srv.Shutdown(ctx), closeAll())
	})
}

// logFile opens a file in the scratch directory for a server's log lines:
// the server logs every request, as in production, without the cost of
// this process reading them.
func (e *env) logFile(name string) (string, *slog.Logger, error) {
	path := filepath.Join(e.tmp, name+".log")
	f, err := os.Create(path)
	if err != nil {
		return "", nil, fmt.Errorf("create %s log: %w", name, err)
	}
	e.closers = append(e.closers, f.Close)
	return path, slog.New(slog.NewTextHandler(f, nil)), nil
}

// child is a server running as a child process.
type child struct {
	server
	// readyIn is how long it took from the start to answering 200.
	readyIn time.Duration
	stop    func() error
}

// startChild runs the binary (-binary) with args and the environment vars
// (added to this process's, without its OTTR_ variables) and waits until
// GET ready answers 200. The caller stops it.
func (e *env) startChild(ctx context.Context, name, addr string, vars map[string]string, args []string, ready string) (*child, error) {
	return e.startProgram(ctx, e.opts.binary, name, addr, vars, args, ready)
}

// startTool runs this tool's own binary (-tool) as a child serving one of
// its baselines; otherwise as startChild.
func (e *env) startTool(ctx context.Context, name, addr string, args []string, ready string) (*server, error) {
	c, err := e.startProgram(ctx, e.opts.tool, name, addr, nil, args, ready)
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, c.stop)
	return &c.server, nil
}

func (e *env) startProgram(ctx context.Context, binary, name, addr string, vars map[string]string, args []string, ready string) (*child, error) {
	logs := filepath.Join(e.tmp, name+".log")
	out, err := os.Create(logs)
	if err != nil {
		return nil, fmt.Errorf("create %s log: %w", name, err)
	}
	defer out.Close() // the child has its own descriptor
	cmd := exec.Command(binary, args...)
	cmd.Env = childEnv(vars)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that Ctrl-C reaches this process only and
	// the child is stopped (and measured) in order; and it stops if this
	// process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, binary, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	c := &child{server: server{url: "http://" + addr, proc: &proc{pid: cmd.Process.Pid}, logs: logs}}
	c.stop = func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			return nil
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("%s did not stop within 20 s of SIGTERM; killed", name)
		}
	}
	if c.readyIn, err = waitReady(ctx, c.url+ready, exited); err != nil {
		_ = c.stop()
		return nil, fmt.Errorf("%s: %w\n%s", name, err, tail(logs))
	}
	return c, nil
}

// startService runs a child that serves until the env closes.
func (e *env) startService(ctx context.Context, name, addr string, vars map[string]string, args []string, ready string) (*server, error) {
	c, err := e.startChild(ctx, name, addr, vars, args, ready)
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, c.stop)
	return &c.server, nil
}

// childEnv is this process's environment without its OTTR_ variables,
// plus vars.
func childEnv(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTTR_") {
			env = append(env, kv)
		}
	}
	for k, v := range vars {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// waitReady polls u until it answers 200 and returns how long that took;
// it gives up when the process exits or after a minute.
func waitReady(ctx context.Context, u string, exited <-chan error) (time.Duration, error) {
	start := time.Now()
	client := &http.Client{Timeout: time.Second}
	for {
		if resp, err := client.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		select {
		case err := <-exited:
			return 0, fmt.Errorf("exited before it was ready: %v", err)
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Since(start) > time.Minute {
			return 0, errors.New("not ready after a minute")
		}
	}
}

// freeAddr finds a free loopback port for a child to listen on.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// tail is the end of a log file, for error messages.
func tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 4096 {
		_, _ = f.Seek(-4096, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
