// Command ottr is the Ottr backend: a GraphQL API for single-use approval
// links, with Slack notifications. See README.md.
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

	"github.com/ottr/backend/internal/app"
	"github.com/ottr/backend/internal/config"
	"github.com/ottr/backend/internal/slack"
	"github.com/ottr/backend/internal/store"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ottr:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	logger := newLogger(os.Getenv("OTTR_LOG_FORMAT"))
	slog.SetDefault(logger)
	cfg, err := config.FromEnv(os.Getenv, logger)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		if args[0] == "rotate-encryption-key" && len(args) == 1 {
			return rotateEncryptionKey(ctx, cfg, logger)
		}
		return fmt.Errorf("unknown command %q (run without arguments to start the server, or with rotate-encryption-key)", strings.Join(args, " "))
	}
	return serve(ctx, cfg, logger)
}

// rotateBatch is how many webhook URLs rotateEncryptionKey reads at a time.
const rotateBatch = 100

// rotateEncryptionKey re-encrypts with OTTR_ENCRYPTION_KEY every Slack
// webhook URL still encrypted with one of OTTR_OLD_ENCRYPTION_KEYS. It
// runs beside the servers, which keep working throughout. To rotate:
//
//  1. generate a key (openssl rand -base64 32); set it as
//     OTTR_ENCRYPTION_KEY and move the current one to
//     OTTR_OLD_ENCRYPTION_KEYS (comma-separated);
//  2. restart every server: they encrypt with the new key and still
//     decrypt with the old one;
//  3. run `ottr rotate-encryption-key` (`go run . rotate-encryption-key`)
//     with the same environment; run it again until it reports 0 rows, in
//     case a server still on the old configuration wrote one meanwhile;
//  4. remove the old key from OTTR_OLD_ENCRYPTION_KEYS and restart.
func rotateEncryptionKey(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	keys, err := slack.ParseKeyring(cfg.EncryptionKey, cfg.OldEncryptionKeys)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	pending, err := st.MigrationsPending(ctx)
	if err != nil {
		return err
	}
	if pending {
		return errors.New("the database is not migrated to this version: start the server once, then rotate")
	}
	n, err := slack.RotateKeys(ctx, st, keys, rotateBatch)
	logger.Info("webhook URLs re-encrypted with the current key", "rows", n, "key_version", keys.Current())
	if err != nil {
		return fmt.Errorf("some webhook URLs could not be re-encrypted (is their key in OTTR_OLD_ENCRYPTION_KEYS?): %w", err)
	}
	return nil
}

func newLogger(format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// serve runs the HTTP server until ctx ends, then stops accepting, lets
// requests in flight finish (up to 15 s) and closes the database.
func serve(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	a, err := app.New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()

	// Requests get their own base context, cancelled only after shutdown has
	// let the ones in flight finish, so a signal does not abort them.
	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	logger.Info("ottr listening", "addr", cfg.Addr, "database", string(a.Store.Dialect()), "playground", cfg.Playground)

	select {
	case err := <-errc:
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
