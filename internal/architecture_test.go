// Package internal holds the server's layers, one folder each: domain,
// platform, realtime, surface and tools. This file is their import rules,
// checked by go test ./internal/ (docs/architecture.md draws them).
package internal

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/ottr/backend"

// Layers, lowest first. A package of a layer imports packages of its own
// layer and of the layers listed for it, nothing else of ours.
var mayImport = map[string][]string{
	"platform": {},
	"domain":   {"platform"},
	"realtime": {"domain", "platform"},
	"surface":  {"realtime", "domain", "platform"},
	"wiring":   {"surface", "realtime", "domain", "platform"},
	"entry":    {"wiring", "surface", "realtime", "domain", "platform"},
	"tools":    {"wiring", "surface", "realtime", "domain", "platform"},
	"loadtool": {"tools", "platform"},
	"tests":    {"tools", "wiring", "surface", "realtime", "domain", "platform"},
}

// layerOf places a package, named by its path inside the module ("" for
// the root), in its layer; graph/ is a surface where the design puts it.
func layerOf(rel string) string {
	parts := strings.Split(rel, "/")
	switch {
	case rel == "":
		return "wiring"
	case parts[0] == "graph":
		return "surface"
	case rel == "cmd/ottr-bench":
		return "loadtool"
	case parts[0] == "cmd":
		return "entry"
	case parts[0] == "test", rel == "internal":
		return "tests"
	case parts[0] == "internal" && len(parts) > 2:
		if _, known := mayImport[parts[1]]; known {
			return parts[1]
		}
	}
	return ""
}

// loadTool is the load tool's package: only its command imports it.
const loadTool = "internal/tools/bench"

// pkg is one folder's imports of our own packages, from its non-test files
// and from its test files.
type pkg struct {
	imports, testImports []string
}

// violations lists every broken rule of the graph, in a stable order.
func violations(pkgs map[string]pkg) []string {
	var out []string
	for _, rel := range sortedKeys(pkgs) {
		layer := layerOf(rel)
		if layer == "" {
			out = append(out, fmt.Sprintf("%s: in no layer (put it under internal/<domain|platform|realtime|surface|tools>/)", show(rel)))
			continue
		}
		for _, imp := range pkgs[rel].imports {
			to := layerOf(imp)
			if to != layer && !slices.Contains(mayImport[layer], to) {
				out = append(out, fmt.Sprintf("%s (%s) imports %s (%s)", show(rel), layer, show(imp), to))
			}
		}
		for _, imp := range append(slices.Clone(pkgs[rel].imports), pkgs[rel].testImports...) {
			if imp == loadTool && rel != "cmd/ottr-bench" && rel != loadTool {
				out = append(out, fmt.Sprintf("%s imports the load tool %s", show(rel), loadTool))
			}
		}
	}
	if cycle := findCycle(pkgs); cycle != nil {
		names := make([]string, len(cycle))
		for i, rel := range cycle {
			names[i] = show(rel)
		}
		out = append(out, "import cycle: "+strings.Join(names, " → "))
	}
	return out
}

// findCycle returns one cycle of non-test imports, first package repeated
// at the end, or nil.
func findCycle(pkgs map[string]pkg) []string {
	const (
		unseen = iota
		open
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(string) []string
	visit = func(rel string) []string {
		state[rel] = open
		stack = append(stack, rel)
		for _, imp := range pkgs[rel].imports {
			switch state[imp] {
			case open:
				i := slices.Index(stack, imp)
				return append(slices.Clone(stack[i:]), imp)
			case unseen:
				if c := visit(imp); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[rel] = done
		return nil
	}
	for _, rel := range sortedKeys(pkgs) {
		if state[rel] == unseen {
			if c := visit(rel); c != nil {
				return c
			}
		}
	}
	return nil
}

func show(rel string) string {
	if rel == "" {
		return "the module root"
	}
	return rel
}

func sortedKeys(pkgs map[string]pkg) []string {
	keys := make([]string, 0, len(pkgs))
	for k := range pkgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// readTree parses the imports of every Go file of the module.
func readTree(t *testing.T, root string) map[string]pkg {
	t.Helper()
	pkgs := map[string]pkg{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (name == "testdata" || name == "node_modules" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		rel := filepath.ToSlash(dir)
		if rel == "." {
			rel = ""
		}
		p := pkgs[rel]
		for _, spec := range f.Imports {
			imp, _ := strconv.Unquote(spec.Path.Value)
			if imp != module && !strings.HasPrefix(imp, module+"/") {
				continue
			}
			imp = strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
			if strings.HasSuffix(path, "_test.go") {
				p.testImports = append(p.testImports, imp)
			} else {
				p.imports = append(p.imports, imp)
			}
		}
		pkgs[rel] = p
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func TestLayers(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the module root is not above internal/: %v", err)
	}
	pkgs := readTree(t, root)
	if len(pkgs) < 20 {
		t.Fatalf("read only %d packages: the walk missed the tree", len(pkgs))
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

// The rules catch what they are for, on made-up trees.
func TestLayerRulesCatchViolations(t *testing.T) {
	cases := []struct {
		name string
		pkgs map[string]pkg
		want string
	}{
		{"domain imports a surface", map[string]pkg{
			"internal/domain/approval": {imports: []string{"internal/surface/rest"}},
			"internal/surface/rest":    {},
		}, "internal/domain/approval (domain) imports internal/surface/rest (surface)"},
		{"domain imports graph", map[string]pkg{
			"internal/domain/approval": {imports: []string{"graph"}},
			"graph":                    {},
		}, "internal/domain/approval (domain) imports graph (surface)"},
		{"domain imports a transport", map[string]pkg{
			"internal/domain/event":   {imports: []string{"internal/realtime/gqlws"}},
			"internal/realtime/gqlws": {},
		}, "internal/domain/event (domain) imports internal/realtime/gqlws (realtime)"},
		{"platform imports the domain", map[string]pkg{
			"internal/platform/metrics": {imports: []string{"internal/domain/event"}},
			"internal/domain/event":     {},
		}, "internal/platform/metrics (platform) imports internal/domain/event (domain)"},
		{"the server imports the load tool", map[string]pkg{
			"":                     {imports: []string{"internal/tools/bench"}},
			"internal/tools/bench": {},
		}, "the module root imports the load tool internal/tools/bench"},
		{"a test imports the load tool", map[string]pkg{
			"internal/domain/notify": {testImports: []string{"internal/tools/bench"}},
			"internal/tools/bench":   {},
		}, "internal/domain/notify imports the load tool internal/tools/bench"},
		{"a package outside the layers", map[string]pkg{
			"internal/misc": {},
		}, "internal/misc: in no layer"},
		{"a cycle", map[string]pkg{
			"internal/domain/a": {imports: []string{"internal/domain/b"}},
			"internal/domain/b": {imports: []string{"internal/domain/a"}},
		}, "import cycle: internal/domain/a → internal/domain/b → internal/domain/a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := violations(c.pkgs)
			found := slices.ContainsFunc(got, func(v string) bool { return strings.HasPrefix(v, c.want) })
			if !found {
				t.Errorf("violations = %q, want one starting %q", got, c.want)
			}
		})
	}
	clean := map[string]pkg{
		"internal/domain/approval": {imports: []string{"internal/platform/store"}},
		"internal/platform/store":  {},
		"graph":                    {imports: []string{"internal/domain/approval", "internal/realtime/live"}},
		"internal/realtime/live":   {imports: []string{"internal/domain/approval"}},
		"cmd/ottr-bench":           {imports: []string{"internal/tools/bench"}},
		"internal/tools/bench":     {imports: []string{""}},
		"":                         {imports: []string{"graph"}},
	}
	if got := violations(clean); len(got) != 0 {
		t.Errorf("a layered tree gives %q", got)
	}
}
