package testserver

import (
	"context"
	"os"
	"os/exec"
	"testing"

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
