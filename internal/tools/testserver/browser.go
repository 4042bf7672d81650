package testserver

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// StartBrowser starts headless Chromium for the whole test. Its absence
// fails the test: a skipped browser test would pass for nothing.
func StartBrowser(t *testing.T) context.Context {
	t.Helper()
	if os.Getenv("OTTR_SKIP_BROWSER") == "1" {
		t.Skip("OTTR_SKIP_BROWSER=1: the browser test is skipped")
	}
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("Chromium is not installed: install it with `apt-get update && apt-get install -y chromium` " +
			"(.ci/run does), or set OTTR_SKIP_BROWSER=1 to skip the browser test explicitly")
	}
	// No network here: every background connection Chromium tries is
	// refused, so turn them off. Pages under test must need none.
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	return browser
}

// Tab is one browser tab and what its console said.
type Tab struct {
	Ctx context.Context
	mu  sync.Mutex
	bad []string
}

// OpenTab opens a tab of width×height pixels. Script errors and CSP
// refusals on its console fail the test at ExpectCleanConsole; a refused
// resource (a 403 page, a favicon) is the network's and does not.
func OpenTab(t *testing.T, browser context.Context, width, height int64) *Tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	tb := &Tab{Ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
				tb.mu.Lock()
				tb.bad = append(tb.bad, m.String())
				tb.mu.Unlock()
			}
		}
	}()
	return tb
}

// ExpectCleanConsole fails the test if a script error or CSP refusal was
// logged.
func (tb *Tab) ExpectCleanConsole(t *testing.T) {
	t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.bad) > 0 {
		t.Errorf("the browser console reported:\n%s", strings.Join(tb.bad, "\n"))
	}
}

// Step bounds one browser step; the tab itself lives as long as the test.
func (tb *Tab) Step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(tb.Ctx, 30*time.Second)
}

// Do runs actions as one step.
func (tb *Tab) Do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := tb.Step()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// WaitFor waits until selector is visible.
func (tb *Tab) WaitFor(t *testing.T, selector string) {
	t.Helper()
	tb.Do(t, chromedp.WaitVisible(chromedp.CSS(selector)))
}

// ArtifactsDir is where tests save screenshots: $OTTR_ARTIFACTS_DIR, or
// artifacts/ at the repository root.
func ArtifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("OTTR_ARTIFACTS_DIR")
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			t.Fatalf("find the repository root: %v", err)
		}
		dir = filepath.Join(root, "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create the artifacts directory: %v", err)
	}
	return dir
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
