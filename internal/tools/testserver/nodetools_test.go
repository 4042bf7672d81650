package testserver_test

import (
	"archive/zip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ottr/backend/internal/tools/testserver"
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
// into a directory of their own, once however many ask at once; packages
// python3 already has are not installed again.
func TestPythonToolsInstallOnceOnFirstUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A local wheel: nothing to fetch, the test needs no network.
	wheel := "ottr_probe_pkg-1.0-py3-none-any.whl"
	writeWheel(t, filepath.Join(dir, wheel))
	if err := os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte("./"+wheel+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deps := filepath.Join(dir, ".deps")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, got, env := testserver.PythonTools(t, dir); got != dir || len(env) != 1 || env[0] != "PYTHONPATH="+deps {
				t.Errorf("PythonTools answered dir %s, env %q", got, env)
			}
		})
	}
	wg.Wait()
	if _, err := os.Stat(filepath.Join(deps, "ottr_probe_pkg", "__init__.py")); err != nil {
		t.Fatalf("the package is not installed: %v", err)
	}
	stamp := filepath.Join(deps, ".ottr-installed")
	before, err := os.Stat(stamp)
	if err != nil {
		t.Fatalf("no install stamp: %v", err)
	}
	testserver.PythonTools(t, dir)
	if after, err := os.Stat(stamp); err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("installed again with the same requirements (%v)", err)
	}

	// Requirements python3 meets already (none here) need no install.
	have := t.TempDir()
	if err := os.WriteFile(filepath.Join(have, "requirements.txt"), []byte("# nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, env := testserver.PythonTools(t, have); env != nil {
		t.Fatalf("env %q for requirements already met", env)
	}
	if _, err := os.Stat(filepath.Join(have, ".deps")); !os.IsNotExist(err) {
		t.Fatalf("installed requirements already met (%v)", err)
	}
}

// writeWheel writes a pure-Python wheel of one empty package.
func writeWheel(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	info := "ottr_probe_pkg-1.0.dist-info/"
	for name, content := range map[string]string{
		"ottr_probe_pkg/__init__.py": "",
		info + "METADATA":            "Metadata-Version: 2.1\nName: ottr-probe-pkg\nVersion: 1.0\n",
		info + "WHEEL":               "Wheel-Version: 1.0\nGenerator: ottr-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
		info + "RECORD":              "ottr_probe_pkg/__init__.py,,\n" + info + "METADATA,,\n" + info + "WHEEL,,\n" + info + "RECORD,,\n",
	} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}
