package testserver_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The README names the oldest Node.js the tests' npm tools run on. Every
// package the lockfiles of test/js and test/openapi install must accept
// it, and the node on this machine, in its `engines`: else `npm ci` warns
// (EBADENGINE) and the tools may not run.
func TestNodeEnginesAgreeWithTheREADME(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`under Node\.js (\d+)\s+\((\d+\.\d+) or\s+later\)`).FindSubmatch(readme)
	if m == nil {
		t.Fatal("the README names no oldest Node.js for the tests' tools (`under Node.js N (N.M or later)`)")
	}
	oldest := parseVersion(t, string(m[2]))
	if strconv.Itoa(oldest[0]) != string(m[1]) {
		t.Fatalf("the README says Node.js %s but %s", m[1], m[2])
	}
	versions := map[string][3]int{"the README's oldest Node.js": oldest}
	if out, err := exec.Command("node", "--version").Output(); err == nil {
		versions["node "+strings.TrimSpace(string(out))] = parseVersion(t, strings.TrimPrefix(strings.TrimSpace(string(out)), "v"))
	}
	for _, dir := range []string{"test/js", "test/openapi"} {
		raw, err := os.ReadFile(filepath.Join("../../..", dir, "package-lock.json"))
		if err != nil {
			t.Fatal(err)
		}
		var lock struct {
			Packages map[string]struct {
				Version string          `json:"version"`
				Engines json.RawMessage `json:"engines"`
			} `json:"packages"`
		}
		if err := json.Unmarshal(raw, &lock); err != nil {
			t.Fatalf("%s/package-lock.json: %v", dir, err)
		}
		for path, p := range lock.Packages {
			var engines struct {
				Node string `json:"node"`
			}
			if json.Unmarshal(p.Engines, &engines) != nil || engines.Node == "" {
				continue // none, or the old array form, which npm ignores
			}
			name := path
			if path == "" {
				name = dir + "/package.json"
			}
			for what, v := range versions {
				if !satisfies(t, v, engines.Node) {
					t.Errorf("%s: %s %s wants node %q, which %s (%d.%d.%d) is not", dir, name, p.Version, engines.Node, what, v[0], v[1], v[2])
				}
			}
		}
		var own struct {
			Engines struct {
				Node string `json:"node"`
			} `json:"engines"`
		}
		raw, err = os.ReadFile(filepath.Join("../../..", dir, "package.json"))
		if err != nil || json.Unmarshal(raw, &own) != nil {
			t.Fatalf("%s/package.json: %v", dir, err)
		}
		if own.Engines.Node != ">="+string(m[2]) {
			t.Errorf("%s/package.json: engines.node %q, want %q as the README says", dir, own.Engines.Node, ">="+string(m[2]))
		}
	}
}

func TestSatisfies(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v, r string
		want bool
	}{
		{"20.20.2", ">=20", true}, {"20.20.2", ">=22.15.0", false}, {"20.5.0", "^18.17.0 || >=20.5.0", true},
		{"20.4.9", "^18.17.0 || >=20.5.0", false}, {"18.17.1", "^18.17.0 || >=20.5.0", true},
		{"20.20.2", "^20.19.0 || ^22.12.0 || >=23", true}, {"21.0.0", "^20.19.0 || ^22.12.0 || >=23", false},
		{"20.0.0", ">= 10", true}, {"20.0.0", "*", true}, {"20.0.0", "20.x", true}, {"20.0.0", "<20", false},
		{"20.0.0", ">=14 <21", true}, {"20.0.0", "~20.1", false}, {"20.1.5", "~20.1", true}, {"20.0.0", "16 - 20", true},
		{"21.0.0", "16 - 20", false}, {"0.10.0", "^0.10.1", false}, {"20.0.0", ">18", true}, {"18.5.0", ">18", false},
	} {
		if got := satisfies(t, parseVersion(t, c.v), c.r); got != c.want {
			t.Errorf("%s in %q: %v, want %v", c.v, c.r, got, c.want)
		}
	}
}

// satisfies tells whether v is in the npm semver range r (the forms the
// engines fields use: ||, comparator sets, hyphen ranges, ^, ~, x-ranges).
func satisfies(t *testing.T, v [3]int, r string) bool {
	t.Helper()
	for _, alt := range strings.Split(r, "||") {
		alt = strings.TrimSpace(alt)
		if lo, hi, ok := strings.Cut(alt, " - "); ok {
			alt = ">=" + strings.TrimSpace(lo) + " <=" + strings.TrimSpace(hi)
		}
		// Join an operator to its version: ">= 10" is ">=10".
		alt = regexp.MustCompile(`([<>=^~]+)\s+`).ReplaceAllString(alt, "$1")
		all := true
		for _, c := range strings.Fields(alt) {
			if !comparator(t, v, c) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func comparator(t *testing.T, v [3]int, c string) bool {
	t.Helper()
	op := strings.TrimRight(c[:len(c)-len(strings.TrimLeft(c, "<>=^~v"))], "v")
	parts, n := partial(t, strings.TrimLeft(c, "<>=^~v"))
	bump := func(i int) [3]int { // the first version above every x.y.* of length i+1
		b := parts
		b[i]++
		for j := i + 1; j < 3; j++ {
			b[j] = 0
		}
		return b
	}
	switch {
	case n == 0:
		return op != "<" && op != ">"
	case op == ">=":
		return cmp(v, parts) >= 0
	case op == ">":
		if n < 3 {
			return cmp(v, bump(n-1)) >= 0
		}
		return cmp(v, parts) > 0
	case op == "<":
		return cmp(v, parts) < 0
	case op == "<=":
		if n < 3 {
			return cmp(v, bump(n-1)) < 0
		}
		return cmp(v, parts) <= 0
	case op == "^":
		i := 0
		for i < n-1 && parts[i] == 0 {
			i++
		}
		return cmp(v, parts) >= 0 && cmp(v, bump(i)) < 0
	case op == "~":
		i := 1
		if n == 1 {
			i = 0
		}
		return cmp(v, parts) >= 0 && cmp(v, bump(i)) < 0
	case op == "" || op == "=":
		if n == 3 {
			return cmp(v, parts) == 0
		}
		return cmp(v, parts) >= 0 && cmp(v, bump(n-1)) < 0
	}
	t.Fatalf("unknown comparator %q", c)
	return false
}

// partial parses "20", "20.5", "20.x", "20.5.1", "*" into the numbers
// given (the rest 0) and how many there are.
func partial(t *testing.T, s string) ([3]int, int) {
	t.Helper()
	var v [3]int
	s, _, _ = strings.Cut(s, "-") // prerelease: not in engines that matter here
	for i, p := range strings.Split(s, ".") {
		if p == "x" || p == "X" || p == "*" || p == "" {
			return v, i
		}
		if i == 3 {
			t.Fatalf("version %q", s)
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			t.Fatalf("version %q: %v", s, err)
		}
		v[i] = n
	}
	return v, min(3, len(strings.Split(s, ".")))
}

func parseVersion(t *testing.T, s string) [3]int {
	t.Helper()
	v, _ := partial(t, s)
	return v
}

func cmp(a, b [3]int) int {
	for i := range 3 {
		if a[i] != b[i] {
			return a[i] - b[i]
		}
	}
	return 0
}
