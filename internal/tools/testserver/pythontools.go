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

// PythonTools makes sure the packages of dir's requirements.txt (test/python:
// relative to the repository root, or absolute) can be imported, and returns
// python3, the absolute dir and the environment to run it with. When
// python3 already has them (each at the pinned version), that is all; else
// they are installed with pip into dir/.deps on first use, and the
// environment sets PYTHONPATH to it. As NodeTools does, it installs once
// however many test processes ask at once (a file lock), and not again
// while requirements.txt stays the same. The install goes to a directory of
// its own (pip --target), so that it needs no virtual environment and
// leaves the system's Python alone.
func PythonTools(t testing.TB, dir string) (python, abs string, env []string) {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 not found: install Python 3 with pip (apt-get install -y python3 python3-pip)")
	}
	abs = dir
	if !filepath.IsAbs(dir) {
		_, self, _, _ := runtime.Caller(0)
		abs = filepath.Join(filepath.Dir(self), "..", "..", "..", dir)
	}
	reqs, err := os.ReadFile(filepath.Join(abs, "requirements.txt"))
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	sum := sha256.Sum256(reqs)
	want := hex.EncodeToString(sum[:])
	deps := filepath.Join(abs, ".deps")
	env = []string{"PYTHONPATH=" + deps}
	stamp := filepath.Join(deps, installedStamp)
	if got, _ := os.ReadFile(stamp); string(got) == want {
		return python, abs, env
	}
	check := exec.Command(python, "-c", haveRequirements)
	check.Dir = abs
	if check.Run() == nil {
		return python, abs, nil
	}
	f, err := os.OpenFile(filepath.Join(abs, ".pip-install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
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
		return python, abs, env
	}
	if err := exec.Command(python, "-m", "pip", "--version").Run(); err != nil {
		t.Fatal("pip not found for python3: install it (apt-get install -y python3-pip)")
	}
	// Into a fresh directory, moved in place once complete: a failed or
	// interrupted install leaves nothing that looks installed.
	tmp := deps + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	cmd := exec.Command(python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--quiet",
		"--target", tmp, "-r", "requirements.txt")
	cmd.Dir = abs
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pip install -r %s/requirements.txt: %v\n%s", dir, err, out)
	}
	if err := os.WriteFile(filepath.Join(tmp, installedStamp), []byte(want), 0o644); err != nil {
		t.Fatalf("stamp %s: %v", dir, err)
	}
	if err := os.RemoveAll(deps); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	if err := os.Rename(tmp, deps); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return python, abs, env
}

// haveRequirements exits 0 when every line of requirements.txt names a
// distribution python3 has, at the version pinned with == if any.
const haveRequirements = `
import sys, importlib.metadata as md
for line in open("requirements.txt"):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, pinned, version = line.partition("==")
    try:
        have = md.version(name.strip())
    except Exception:
        sys.exit(1)
    if pinned and have != version.strip():
        sys.exit(1)
`
