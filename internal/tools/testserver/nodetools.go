package testserver

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// installedStamp, inside node_modules, holds the SHA-256 of the
// package-lock.json that npm ci installed from.
const installedStamp = ".ottr-installed"

// NodeTools makes sure the npm packages of dir (test/js, test/openapi:
// relative to the repository root, or absolute) are installed, installing them with
// npm ci from the lockfile on first use, and returns the node binary and
// the absolute dir. Test processes of several packages may ask at once: a
// file lock lets one install while the others wait, and a stamp of the
// lockfile makes later runs skip the install.
func NodeTools(t testing.TB, dir string) (node, abs string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found: install Node.js 20.5 or later (apt-get install -y nodejs npm)")
	}
	abs = dir
	if !filepath.IsAbs(dir) {
		_, self, _, _ := runtime.Caller(0)
		abs = filepath.Join(filepath.Dir(self), "..", "..", "..", dir)
	}
	lock, err := os.ReadFile(filepath.Join(abs, "package-lock.json"))
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	stamp := filepath.Join(abs, "node_modules", installedStamp)
	if got, _ := os.ReadFile(stamp); string(got) == want {
		return node, abs
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("npm not found: install it with Node.js (apt-get install -y npm)")
	}
	f, err := os.OpenFile(filepath.Join(abs, ".npm-install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("lock %s: %v", dir, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("lock %s: %v", dir, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing unlocks too
	// Another process may have installed while this one waited.
	if got, _ := os.ReadFile(stamp); string(got) == want {
		return node, abs
	}
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = abs
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	if err := os.MkdirAll(filepath.Dir(stamp), 0o755); err != nil {
		t.Fatalf("stamp %s: %v", dir, err)
	}
	if err := os.WriteFile(stamp, []byte(want), 0o644); err != nil {
		t.Fatalf("stamp %s: %v", dir, err)
	}
	return node, abs
}
