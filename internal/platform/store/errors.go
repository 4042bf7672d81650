package store

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/ottr/backend/internal/platform/apperr"
)

// A row that refers to one a concurrent delete has just removed (an
// approval created while its project is deleted, a key set in a channel's
// last instant) fails on its foreign key. The caller asked about something
// that no longer exists: that is NOT_FOUND, not an internal error. Every
// statement GORM runs passes through translateGone, on both dialects, so
// no domain package has to know the drivers' errors.

// registerTranslations makes every GORM statement's foreign-key violation
// a NOT_FOUND error (see translateGone).
func registerTranslations(db *gorm.DB) error {
	cb := db.Callback()
	for name, register := range map[string]func(string, func(*gorm.DB)) error{
		"create": cb.Create().After("*").Register,
		"query":  cb.Query().After("*").Register,
		"update": cb.Update().After("*").Register,
		"delete": cb.Delete().After("*").Register,
		"row":    cb.Row().After("*").Register,
		"raw":    cb.Raw().After("*").Register,
	} {
		if err := register("ottr:translate_gone", translateGone); err != nil {
			return fmt.Errorf("register the %s error translation: %w", name, err)
		}
	}
	return nil
}

// translateGone turns a statement's foreign-key violation into NOT_FOUND
// for the object the row referred to, keeping the driver's error in the
// chain for the log. TranslateError has already made both drivers' codes
// gorm.ErrForeignKeyViolated.
func translateGone(db *gorm.DB) {
	if db.Error == nil || !errors.Is(db.Error, gorm.ErrForeignKeyViolated) {
		return
	}
	if _, ok := apperr.As(db.Error); ok {
		return
	}
	db.Error = fmt.Errorf("%w: %w", apperr.NotFound(referredTo(db.Error)), db.Error)
}

// translatePgxGone is translateGone for a statement pgx ran itself, past
// GORM's callbacks (ExecAll's batches).
func translatePgxGone(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.ForeignKeyViolation {
		return err
	}
	return fmt.Errorf("%w: %w: %w", apperr.NotFound(referredTo(err)), gorm.ErrForeignKeyViolated, err)
}

// referredTo names what a violated foreign key points at. PostgreSQL names
// the constraint (<table>_<column>_fkey); SQLite names nothing, and there a
// violation can only come from a write whose project was deleted after it
// was checked, since SQLite runs one write transaction at a time.
func referredTo(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return "project"
	}
	for column, what := range map[string]string{
		"_project_id_fkey":  "project",
		"_approval_id_fkey": "approval",
		"_channel_id_fkey":  "channel",
		"_event_id_fkey":    "event",
		"_delivery_id_fkey": "delivery",
		"_user_id_fkey":     "user",
	} {
		if strings.HasSuffix(pgErr.ConstraintName, column) {
			return what
		}
	}
	return "project"
}

// IsGone reports an error of a write that referred to a row a concurrent
// delete removed (see translateGone).
func IsGone(err error) bool { return errors.Is(err, gorm.ErrForeignKeyViolated) }
