package internal

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Data is read and written in two ways (docs/architecture.md, "Data
// access"): GORM, for rows and portable statements, and the store's
// one-round-trip helpers for hot paths (QueryRow, ExecAllUnless, pipelined
// batches), which the store runs through pgx. So outside the store no code
// holds a database client or driver of its own, and none opens a
// connection beside the store's pool. The load tool may: it measures the
// drivers themselves.

// dataAccessAllowed are the places outside the store that may.
var dataAccessAllowed = []string{
	"internal/tools/bench/", // baselines written against pgx and database/sql on purpose
}

// driverImports are the clients and drivers that only the store uses.
// River's driver interface (riverdriver) is River's job API, which the
// delivery domain uses for its jobs; the concrete River drivers are not.
var driverImports = []string{
	"github.com/jackc/pgx",
	"github.com/lib/pq",
	"gorm.io/driver/",
	"github.com/libtnb/sqlite",
	"modernc.org/sqlite",
	"github.com/mattn/go-sqlite3",
	"github.com/riverqueue/river/riverdriver/",
}

// dataAccessLeaks lists what in one Go file reaches the database around
// the store: a driver's import, and a connection opened with database/sql.
func dataAccessLeaks(fset *token.FileSet, f *ast.File) []string {
	var out []string
	for _, spec := range f.Imports {
		path, _ := strconv.Unquote(spec.Path.Value)
		if slices.ContainsFunc(driverImports, func(p string) bool { return strings.HasPrefix(path, p) }) {
			out = append(out, fmt.Sprintf("%s: imports %s", fset.Position(spec.Pos()), path))
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "sql" && (sel.Sel.Name == "Open" || sel.Sel.Name == "OpenDB") {
			out = append(out, fmt.Sprintf("%s: opens a connection with sql.%s", fset.Position(call.Pos()), sel.Sel.Name))
		}
		return true
	})
	return out
}

func TestDataAccessGoesThroughTheStore(t *testing.T) {
	outsideStore(t, func(rel string, fset *token.FileSet, f *ast.File) {
		if slices.ContainsFunc(dataAccessAllowed, func(p string) bool { return strings.HasPrefix(rel, p) }) {
			return
		}
		for _, l := range dataAccessLeaks(fset, f) {
			t.Errorf("%s (use GORM or the store's helpers: %s)", l, storeDir)
		}
	})
}

// The check catches what it is for, on made-up files.
func TestDataAccessCheckCatchesLeaks(t *testing.T) {
	cases := []struct {
		name, src string
		want      int
	}{
		{"pgx", "import \"github.com/jackc/pgx/v5\"\n\nvar _ pgx.Rows", 1},
		{"pgx's pool", "import \"github.com/jackc/pgx/v5/pgxpool\"\n\nvar _ *pgxpool.Pool", 1},
		{"GORM's driver", "import \"gorm.io/driver/postgres\"\n\nvar _ = postgres.Open", 1},
		{"GORM's SQLite dialector", "import \"github.com/libtnb/sqlite\"\n\nvar _ = sqlite.Open", 1},
		{"a SQLite driver", "import _ \"modernc.org/sqlite\"", 1},
		{"a concrete River driver", "import \"github.com/riverqueue/river/riverdriver/riverpgxv5\"\n\nvar _ = riverpgxv5.New", 1},
		{"a database/sql connection", "import \"database/sql\"\n\nfunc f() { sql.Open(\"pgx\", \"\") }", 1},
		{"GORM", "import \"gorm.io/gorm\"\n\nvar _ *gorm.DB", 0},
		{"River's job API", "import \"github.com/riverqueue/river/riverdriver\"\n\nvar _ riverdriver.JobGetByIDParams", 0},
		{"database/sql's types", "import \"database/sql\"\n\nvar _ sql.NullString", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "p.go", "package p\n\n"+c.src+"\n", parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			if got := dataAccessLeaks(fset, f); len(got) != c.want {
				t.Errorf("found %d leaks, want %d: %q", len(got), c.want, got)
			}
		})
	}
}
