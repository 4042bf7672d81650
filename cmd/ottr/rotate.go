package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
)

// rotateBatch is how many encrypted values rotateEncryptionKey reads at a
// time.
const rotateBatch = 100

// rotateEncryptionKey re-encrypts with OTTR_ENCRYPTION_KEY every Slack
// webhook URL, webhook endpoint URL and secret, callback URL and callback
// secret still encrypted with one of OTTR_OLD_ENCRYPTION_KEYS. It
// runs beside the servers, which keep working throughout. To rotate:
//
//  1. generate a key (openssl rand -base64 32); set it as
//     OTTR_ENCRYPTION_KEY and move the current one to
//     OTTR_OLD_ENCRYPTION_KEYS (comma-separated);
//  2. restart every server: they encrypt with the new key and still
//     decrypt with the old one;
//  3. run `ottr rotate-encryption-key` (`go run ./cmd/ottr rotate-encryption-key`)
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
	logger.Info("webhook URLs and secrets re-encrypted with the current key", "rows", n, "key_version", keys.Current())
	if err != nil {
		return fmt.Errorf("some webhook URLs or secrets could not be re-encrypted (is their key in OTTR_OLD_ENCRYPTION_KEYS?): %w", err)
	}
	return nil
}
