package store_test

import (
	"strings"
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"gorm.io/gorm"
)

// TestRowLock checks that the row-lock scope and suffix lock on
// PostgreSQL and leave SQLite's statements as they are.
func TestRowLock(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		st := storetest.Open(t, d)
		dry := st.DB(t.Context()).Session(&gorm.Session{DryRun: true})
		var ids []string
		stmt := dry.Table("projects").Where("id IN ?", []string{"a"}).Scopes(st.RowLock(store.LockKeyShare)).Pluck("id", &ids).Statement
		got := stmt.SQL.String()
		wantLock := d == store.Postgres
		if has := strings.Contains(got, "FOR KEY SHARE"); has != wantLock {
			t.Errorf("%s: RowLock(KEY SHARE) gave %q", d, got)
		}
		if has := st.RowLockSQL(store.LockUpdate) == " FOR UPDATE"; has != wantLock {
			t.Errorf("%s: RowLockSQL(UPDATE) = %q", d, st.RowLockSQL(store.LockUpdate))
		}
		if st.Shared() != wantLock {
			t.Errorf("%s: Shared() = %v", d, st.Shared())
		}
	})
}
