package approval

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// The one-statement execution writes the key and the event itself, not
// through GORM's models: a column added to either table must be added to
// its lists too, or executions on PostgreSQL would leave it empty.
func TestExecuteInOneWritesEveryColumn(t *testing.T) {
	if storetest.SQLiteOnly() {
		t.Skip("the one-statement execution is PostgreSQL's (OTTR_TEST_SQLITE_ONLY=1 is set)")
	}
	t.Parallel()
	s := storetest.Open(t, store.Postgres)
	for _, c := range []struct {
		table, written string
		filledIn       []string
	}{
		{"key_values", executeKeyColumns, nil},
		{"events", executeEventColumns, []string{"id", "xid"}},
	} {
		var columns []string
		err := s.DB(context.Background()).Raw(`SELECT column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = ? ORDER BY column_name`, c.table).Scan(&columns).Error
		if err != nil {
			t.Fatalf("columns of %s: %v", c.table, err)
		}
		if len(columns) == 0 {
			t.Fatalf("table %s has no columns", c.table)
		}
		var want []string
		for _, col := range columns {
			if !slices.Contains(c.filledIn, col) {
				want = append(want, col)
			}
		}
		var got []string
		for _, col := range strings.Split(c.written, ",") {
			got = append(got, strings.TrimSpace(col))
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: the one-statement execution writes %v, the table's columns (less %v) are %v", c.table, got, c.filledIn, want)
		}
	}
}

// Rows with the same actions share one decoded set, but each caller gets
// its own copy: changing one approval's actions changes no other's.
func TestActionSetsAreCopiesOfOneDecoding(t *testing.T) {
	raw := `[{"key":"ship","value":"yes","label":"Ship it","style":"PRIMARY"},{"key":"hold","value":"no","label":"Hold","style":"DANGER"}]`
	first, err := (&row{ID: "a", Actions: raw}).actions()
	if err != nil {
		t.Fatal(err)
	}
	first[0].Label = "changed"
	second, err := (&row{ID: "b", Actions: raw}).actions()
	if err != nil {
		t.Fatal(err)
	}
	if len(second) != 2 || second[0].Label != "Ship it" || second[1].Key != "hold" || second[1].Style != "DANGER" {
		t.Fatalf("second decoding: %+v", second)
	}
	if _, err := (&row{ID: "c", Actions: `[{"key":`}).actions(); err == nil {
		t.Fatal("broken actions decoded without an error")
	}
}

// A nonce names the approval it was issued for, signed with its issue
// time; an id that is not a canonical UUID is left out rather than
// changed, and a nonce without an id is still accepted.
func TestNonceNamesItsApproval(t *testing.T) {
	s := newSecrets([]byte("a-server-secret-of-thirty-two-by"))
	now := time.Unix(1_700_000_000, 0)
	id := store.NewID()
	for _, tc := range []struct{ id, want string }{
		{id, id},
		{strings.ToUpper(id), ""},
		{"{" + id + "}", ""},
		{"not-a-uuid", ""},
		{"", ""},
	} {
		got, err := s.checkNonce(s.nonce("hash", tc.id, now), "hash", now.Add(time.Minute))
		if err != nil || got != tc.want {
			t.Errorf("nonce of id %q: named %q, %v; want %q", tc.id, got, err, tc.want)
		}
	}
	if _, err := s.checkNonce(s.nonce("hash", id, now), "another hash", now); err == nil {
		t.Error("a nonce of another link's token hash was accepted")
	}
	if _, err := s.checkNonce(s.nonce("hash", id, now), "hash", now.Add(NonceTTL+time.Second)); err == nil {
		t.Error("a nonce older than NonceTTL was accepted")
	}
}
