package slack

import (
	"context"
	"errors"
	"fmt"

	"github.com/ottr/backend/internal/platform/store"
)

// sealed is a column encrypted with the keyring, beside the column that
// holds its key's version, in a table whose rows key names.
type sealed struct {
	table, key, ciphertext, version string
}

// sealedColumns are every column encrypted with the keyring: Slack
// webhook URLs, webhook endpoint URLs and signing secrets, the projects'
// callback secrets and the approvals' callback URLs. The tables of other
// packages are named here, not imported, so that one command rotates them
// all and this package stays below those that use it. A version column is
// NULL where its value is (a callback not given, no previous secret).
var sealedColumns = []sealed{
	{"slack_channels", "id", "webhook_url_enc", "key_version"},
	{"webhook_endpoints", "id", "url_enc", "key_version"},
	{"webhook_endpoints", "id", "secret_enc", "secret_key_version"},
	{"webhook_endpoints", "id", "previous_secret_enc", "previous_secret_key_version"},
	{"callback_secrets", "project_id", "secret_enc", "secret_key_version"},
	{"callback_secrets", "project_id", "previous_secret_enc", "previous_secret_key_version"},
	{"approvals", "id", "callback_url_enc", "callback_key_version"},
}

// RotateKeys re-encrypts, with the keyring's current key, every value of
// sealedColumns still encrypted with another one, batch rows at a time.
// Each value is updated only if its ciphertext is still the one read, so
// servers keep running (and users keep editing) meanwhile; a value changed
// in between is left for the next run if it is still on an old key. It
// returns the number of values re-encrypted; values it cannot decrypt are
// reported in the error, by table and row, after all others are done.
func RotateKeys(ctx context.Context, st *store.Store, keys *Keyring, batch int) (int, error) {
	var (
		rotated int
		failed  []error
	)
	for _, col := range sealedColumns {
		n, errs, err := rotateColumn(ctx, st, keys, col, batch)
		rotated += n
		if err != nil {
			return rotated, err
		}
		failed = append(failed, errs...)
	}
	return rotated, errors.Join(failed...)
}

// rotateColumn is RotateKeys for one column: the number re-encrypted, the
// values that could not be decrypted, and an error that stopped it.
func rotateColumn(ctx context.Context, st *store.Store, keys *Keyring, col sealed, batch int) (int, []error, error) {
	var (
		rotated int
		failed  []error
		after   string
	)
	selectSQL := fmt.Sprintf("SELECT %s AS row_key, %s AS sealed_value, %s AS sealed_version FROM %s WHERE %s <> ? AND %s > ? ORDER BY %s LIMIT ?",
		col.key, col.ciphertext, col.version, col.table, col.version, col.key, col.key)
	updateSQL := fmt.Sprintf("UPDATE %s SET %s = ?, %s = ? WHERE %s = ? AND %s = ? AND %s = ?",
		col.table, col.ciphertext, col.version, col.key, col.ciphertext, col.version)
	for {
		// The version is NULL only with the value, and NULL <> ? is not
		// true: absent values are skipped.
		var rows []struct {
			RowKey        string
			SealedValue   string
			SealedVersion int
		}
		if err := st.DB(ctx).Raw(selectSQL, keys.Current(), after, batch).Scan(&rows).Error; err != nil {
			return rotated, failed, fmt.Errorf("load %s.%s to re-encrypt: %w", col.table, col.ciphertext, err)
		}
		for _, r := range rows {
			ciphertext, version, err := keys.Rotate(r.SealedValue, r.SealedVersion)
			if err != nil {
				failed = append(failed, fmt.Errorf("%s %s (%s): %w", col.table, r.RowKey, col.ciphertext, err))
				continue
			}
			res := st.DB(ctx).Exec(updateSQL, ciphertext, version, r.RowKey, r.SealedValue, r.SealedVersion)
			if res.Error != nil {
				return rotated, failed, fmt.Errorf("re-encrypt %s %s (%s): %w", col.table, r.RowKey, col.ciphertext, res.Error)
			}
			rotated += int(res.RowsAffected)
		}
		if len(rows) < batch {
			return rotated, failed, nil
		}
		after = rows[len(rows)-1].RowKey
	}
}
