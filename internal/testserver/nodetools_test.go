package testserver_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ottr/backend/internal/testserver"
)

// Tests that need npm packages install them on first use, once however
// many ask at once, and not again while the lockfile is the same.
func TestNodeToolsInstallOnceOnFirstUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pkg := `{"name": "tools", "version": "1.0.0", "private": true,
  "scripts": {"postinstall": "node -e \"require('fs').appendFileSync('installs', 'x')\""}}`
	lock := `{"name": "tools", "version": "1.0.0", "lockfileVersion": 3, "requires": true,
  "packages": {"": {"name": "tools", "version": "1.0.0", "hasInstallScript": true}}}`
	for name, content := range map[string]string{"package.json": pkg, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, got := testserver.NodeTools(t, dir); got != dir {
				t.Errorf("NodeTools answered dir %s", got)
			}
		})
	}
	wg.Wait()
	testserver.NodeTools(t, dir)
	if installs, err := os.ReadFile(filepath.Join(dir, "installs")); err != nil || string(installs) != "x" {
		t.Fatalf("npm ci ran %q times (%v), want once", installs, err)
	}
}

// Tests that need Python packages install them on first use, with pip
// into a directory of their own, once however many ask at once.
func TestPythonToolsInstallOnceOnFirstUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Nothing to fetch: the test needs no network.
	if err := os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte("# none\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, got, path := testserver.PythonTools(t, dir); got != dir || path != "PYTHONPATH="+filepath.Join(dir, ".deps") {
				t.Errorf("PythonTools answered dir %s, %s", got, path)
			}
		})
	}
	wg.Wait()
	stamp := filepath.Join(dir, ".deps", ".ottr-installed")
	before, err := os.Stat(stamp)
	if err != nil {
		t.Fatalf("no install stamp: %v", err)
	}
	testserver.PythonTools(t, dir)
	if after, err := os.Stat(stamp); err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("installed again with the same requirements (%v)", err)
	}
}
