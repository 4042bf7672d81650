// Command ottr is the Ottr backend: a GraphQL API for single-use approval
// links, with Slack notifications. See README.md.
//
// Usage:
//
//	ottr              run the server (configured from the environment)
//	ottr healthcheck  exit 0 when the server at OTTR_ADDR answers /healthz
//	ottr rotate-encryption-key
//	                  re-encrypt the Slack webhook URLs still on an old key
//	                  (see rotateEncryptionKey for the procedure)
//	ottr approval create|list … / ottr key get|set … / ottr channel …
//	                  the client for scripts (internal/surface/cli), on OTTR_URL and OTTR_API_KEY
//	ottr version, ottr help [COMMAND]
//
// The load tool is its own command: cmd/ottr-bench.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	ottr "github.com/ottr/backend"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/gcfloor"
	"github.com/ottr/backend/internal/surface/cli"
	"github.com/ottr/backend/internal/surface/httpserver"
)

// shutdownGrace is how long requests in flight may take to finish once a
// signal has arrived.
const shutdownGrace = 15 * time.Second

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ottr:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	rotate := false
	switch {
	case len(args) == 0:
	case len(args) == 1 && args[0] == "healthcheck":
		return healthcheck(os.Getenv("OTTR_ADDR"))
	case len(args) == 1 && args[0] == "rotate-encryption-key":
		rotate = true
	case cli.Handles(args[0]):
		os.Exit(cli.Main(args, os.Stdout, os.Stderr, os.Getenv))
	default:
		return fmt.Errorf("unknown command %q (run without arguments to start the server, or with healthcheck, rotate-encryption-key, approval, key, channel, version or help)",
			strings.Join(args, " "))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := newLogger(os.Getenv("OTTR_LOG_FORMAT"))
	slog.SetDefault(logger)
	cfg, err := config.FromEnv(os.Getenv, logger)
	if err != nil {
		return err
	}
	if rotate {
		return rotateEncryptionKey(ctx, cfg, logger)
	}
	if cfg.GCHeapFloor > 0 {
		defer gcfloor.Start(cfg.GCHeapFloor)()
	}
	a, err := ottr.New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close() // last: after the requests in flight have finished
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	var metricsLn net.Listener
	if cfg.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			_ = ln.Close()
			return fmt.Errorf("listen on %s (OTTR_METRICS_ADDR): %w", cfg.MetricsAddr, err)
		}
	}
	return serve(ctx, a, ln, metricsLn)
}

func newLogger(format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// serve answers on ln (and /metrics on metricsLn, when not nil) until ctx
// ends, then stops accepting and lets the requests in flight finish (up to
// shutdownGrace).
func serve(ctx context.Context, a *ottr.App, ln, metricsLn net.Listener) error {
	// Requests get their own base context, cancelled only after shutdown has
	// let the ones in flight finish, so a signal does not abort them.
	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:     a.Handler(),
		BaseContext: func(net.Listener) context.Context { return baseCtx },
	}
	httpserver.ApplyTimeouts(srv, a.Config.HTTP)
	srv.RegisterOnShutdown(a.Drain)
	errc := make(chan error, 2)
	go func() { errc <- fmt.Errorf("serve on %s: %w", ln.Addr(), srv.Serve(ln)) }()
	if metricsLn != nil {
		// Only Prometheus scrapes here: no request log, no GraphQL.
		metricsSrv := &http.Server{Handler: a.MetricsHandler()}
		httpserver.ApplyTimeouts(metricsSrv, a.Config.HTTP)
		go func() { errc <- fmt.Errorf("serve metrics on %s: %w", metricsLn.Addr(), metricsSrv.Serve(metricsLn)) }()
		defer metricsSrv.Close()
		a.Logger.Info("metrics listening", "addr", metricsLn.Addr().String())
	}
	a.Logger.Info("ottr listening", "addr", ln.Addr().String(), "database", string(a.Store.Dialect()), "playground", a.Config.Playground, "introspection", a.Config.Introspection)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.Logger.Info("shutting down: finishing requests in flight", "grace", shutdownGrace)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	// Subscriptions end with SHUTTING_DOWN and their websockets close
	// with 1001 (going away) meanwhile: Shutdown waits for neither.
	live := make(chan error, 1)
	go func() { live <- a.StopLive(shutdownCtx) }()
	err := srv.Shutdown(shutdownCtx)
	if liveErr := <-live; err == nil && liveErr != nil {
		err = liveErr
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	a.Logger.Info("stopped")
	return nil
}

// healthcheck asks the server listening on addr (OTTR_ADDR) for /healthz;
// the container image has no curl, so its HEALTHCHECK runs this.
func healthcheck(addr string) error {
	if addr == "" {
		addr = config.DefaultAddr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: OTTR_ADDR %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + "/healthz")
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New("healthcheck: /healthz answered " + resp.Status)
	}
	return nil
}
