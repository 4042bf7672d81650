package internal

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Dialect differences live in the store (internal/platform/store and its
// subpackages: the event-log drivers, the row locks, River's driver).
// Outside it no code compares the dialect in use, and no statement is
// written in one database's own SQL. Test files may: they probe the
// database they run on.

// storeDir holds the store and its drivers, where dialects may differ.
const storeDir = "internal/platform/store"

// dialectAllowed lists the places outside the store that still differ by
// dialect, each with the reason it stays. The test fails when one of them
// no longer does, so that the list only shrinks.
var dialectAllowed = map[string]string{
	// The load tool measures each database and, as baselines, PostgreSQL's
	// own primitives (a NOTIFY's round trip, the server's statements
	// written by hand): it is about the dialects.
	"internal/tools/bench/": "the load tool",
	// On PostgreSQL one statement locks the project and writes the key (a
	// data-modifying WITH, which SQLite lacks); on SQLite the lock is a
	// read and the write a second statement.
	"internal/domain/approval/create.go": "lock the project and write the key in one statement",
}

// dialectSQL matches text written in one database's own SQL: PostgreSQL's
// functions, LISTEN and NOTIFY, SQLite's internal tables and functions,
// and row-lock clauses (PostgreSQL's; SQLite has none).
var dialectSQL = regexp.MustCompile(`\bpg_[a-z_]+\s*\(|^\s*(LISTEN|NOTIFY|UNLISTEN)\s|\bsqlite_[a-z_]+|\bFOR (UPDATE|NO KEY UPDATE|SHARE|KEY SHARE)\b`)

// dialectLeaks lists what in one Go file depends on the dialect: a
// comparison or switch on Store.Dialect() or on store.Postgres or
// store.SQLite, and string literals in one dialect's SQL.
func dialectLeaks(fset *token.FileSet, f *ast.File) []string {
	var out []string
	at := func(n ast.Node, what string) {
		out = append(out, fmt.Sprintf("%s: %s", fset.Position(n.Pos()), what))
	}
	isDialect := func(e ast.Expr) bool {
		switch e := ast.Unparen(e).(type) {
		case *ast.CallExpr:
			sel, ok := e.Fun.(*ast.SelectorExpr)
			return ok && sel.Sel.Name == "Dialect" && len(e.Args) == 0
		case *ast.SelectorExpr:
			pkg, ok := e.X.(*ast.Ident)
			return ok && pkg.Name == "store" && (e.Sel.Name == "Postgres" || e.Sel.Name == "SQLite")
		}
		return false
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ImportSpec:
			return false // a driver's import path is no statement
		case *ast.BinaryExpr:
			if (n.Op == token.EQL || n.Op == token.NEQ) && (isDialect(n.X) || isDialect(n.Y)) {
				at(n, "compares the dialect")
			}
		case *ast.SwitchStmt:
			if n.Tag != nil && isDialect(n.Tag) {
				at(n, "switches on the dialect")
			}
		case *ast.CaseClause:
			if slices.ContainsFunc(n.List, isDialect) {
				at(n, "a case of the dialect")
			}
		case *ast.BasicLit:
			if n.Kind != token.STRING {
				break
			}
			if s, err := strconv.Unquote(n.Value); err == nil && dialectSQL.MatchString(s) {
				at(n, fmt.Sprintf("one dialect's SQL %s", n.Value))
			}
		}
		return true
	})
	return out
}

// allowedFor is the entry of dialectAllowed covering rel, if any.
func allowedFor(rel string) (string, bool) {
	for place := range dialectAllowed {
		if rel == place || (strings.HasSuffix(place, "/") && strings.HasPrefix(rel, place)) {
			return place, true
		}
	}
	return "", false
}

// outsideStore parses every non-test Go file of the module outside the
// store (test files may probe the database they run on) and hands it to
// fn with its path inside the module; it fails the test when the walk
// missed the tree.
func outsideStore(t *testing.T, fn func(rel string, fset *token.FileSet, f *ast.File)) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel == storeDir || (path != root && (name == "testdata" || name == "node_modules" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_"))) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		// Named by rel, so that a position reads as the module's path.
		f, err := parser.ParseFile(fset, rel, src, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		fn(rel, fset, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("read only %d files: the walk missed the tree", files)
	}
}

func TestNoDialectOutsideStore(t *testing.T) {
	used := map[string]bool{}
	outsideStore(t, func(rel string, fset *token.FileSet, f *ast.File) {
		leaks := dialectLeaks(fset, f)
		if len(leaks) == 0 {
			return
		}
		if place, ok := allowedFor(rel); ok {
			used[place] = true
			return
		}
		for _, l := range leaks {
			t.Errorf("%s (dialect differences belong in %s)", l, storeDir)
		}
	})
	for place, why := range dialectAllowed {
		if !used[place] {
			t.Errorf("%s (%s) no longer differs by dialect: remove it from dialectAllowed", place, why)
		}
	}
}

// The check catches what it is for, on made-up files.
func TestDialectCheckCatchesLeaks(t *testing.T) {
	cases := []struct {
		name, src string
		want      int
	}{
		{"a comparison", `if st.Dialect() == store.Postgres { }`, 1},
		{"a comparison the other way", `if store.SQLite != s.store.Dialect() { }`, 1},
		{"a comparison of a saved dialect", `d := st.Dialect(); if d == store.SQLite { }`, 1},
		{"a switch", "switch st.Dialect() {\ncase store.Postgres:\n}", 2},
		{"a PostgreSQL function", `db.Exec("SELECT pg_advisory_xact_lock(?)", k)`, 1},
		{"a raw horizon", "q := `SELECT *, pg_snapshot_xmin(pg_current_snapshot()) FROM events`", 1},
		{"LISTEN", `conn.Exec(ctx, "LISTEN "+ch)`, 1},
		{"NOTIFY", `conn.Exec(ctx, "NOTIFY ottr_events")`, 1},
		{"a SQLite table", `db.Raw("SELECT name FROM sqlite_master")`, 1},
		{"a row lock", `q += " FOR UPDATE"`, 1},
		{"a key-share lock", `store.NewQuery("SELECT 1 FROM projects WHERE id = ? FOR KEY SHARE")`, 1},
		{"portable SQL", `db.Raw("SELECT xid, event_id FROM delivery_cursor WHERE id = 1")`, 0},
		{"words in a message", `errors.New("could not LISTEN on PostgreSQL; use sqlite for one instance")`, 0},
		{"the dialect in a log", `log.Info("listening", "database", string(st.Dialect()))`, 0},
		{"choosing a dialect", `d := store.SQLite`, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := "package p\n\nfunc f() {\n" + c.src + "\n}\n"
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "p.go", src, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			if got := dialectLeaks(fset, f); len(got) != c.want {
				t.Errorf("found %d leaks, want %d: %q", len(got), c.want, got)
			}
		})
	}
	imp, err := parser.ParseFile(token.NewFileSet(), "p.go", "package p\n\nimport _ \"github.com/libtnb/sqlite_x\"\n", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := dialectLeaks(token.NewFileSet(), imp); len(got) != 0 {
		t.Errorf("an import path counted as SQL: %q", got)
	}
}
