package approvalpage_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ottr/backend/internal/store"
	"github.com/ottr/backend/internal/store/storetest"
	"github.com/ottr/backend/internal/testserver"
)

// The browser test drives the page in headless Chromium as a person would:
// a wrong PIN, back to the link, the right PIN, the primary action. It
// saves screenshots at phone and desktop sizes.

var viewports = []struct {
	name          string
	width, height int64
}{{"phone", 360, 740}, {"desktop", 1280, 800}}

func TestApprovalPageInABrowser(t *testing.T) {
	t.Parallel()
	browser := testserver.StartBrowser(t)
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := setup(t, d, "Acme Deployments")
		in := deployInput()
		in["info"] = "Deploy web v2.14.0 to production?\nChanges: 14 commits, 2 migrations."
		l := f.create(in)
		tab := newTab(t, browser)
		// Each page is checked for contrast and saved as a screenshot.
		shoot := func(name string) {
			expectContrast(t, tab)
			screenshots(t, tab, string(d)+"-"+name)
		}

		status := visit(t, tab, chromedp.Navigate(l.URL))
		expectStatus(t, status, http.StatusOK)
		waitFor(t, tab, "#pin")
		expectText(t, tab, "h1", "Approval requested")
		expectText(t, tab, "#pin-hint", "5 attempts left.")
		// The stylesheet and the script loaded under the page's CSP: the
		// buttons have their colours, the expiry shows in local time.
		expectEval(t, tab, `getComputedStyle(document.querySelector(".btn-primary")).backgroundColor`, "rgb(29, 78, 216)")
		expectEval(t, tab, `getComputedStyle(document.querySelector(".btn-danger")).backgroundColor`, "rgb(185, 28, 28)")
		expectEval(t, tab, `document.querySelector("time[data-local]").textContent.endsWith("UTC")`, false)
		// The focused PIN field shows a focus ring.
		expectEval(t, tab, `document.getElementById("pin").focus(), getComputedStyle(document.getElementById("pin")).outlineStyle`, "solid")
		shoot("form")

		// Enter in the PIN field picks no action: the disabled first
		// submit button turns implicit submission off.
		do(t, tab, chromedp.SendKeys(chromedp.CSS("#pin"), "1357\r"))
		status = visit(t, tab, chromedp.Click(chromedp.CSS(`button[value="approve"]`)))
		expectStatus(t, status, http.StatusForbidden)
		expectText(t, tab, "h1", "Wrong PIN")
		expectText(t, tab, ".result", "4 attempts left.")
		shoot("wrong-pin")

		status = visit(t, tab, chromedp.Click(chromedp.CSS("a.btn")))
		expectStatus(t, status, http.StatusOK)
		waitFor(t, tab, "#pin")
		expectText(t, tab, "#pin-hint", "4 attempts left.")
		do(t, tab, chromedp.SendKeys(chromedp.CSS("#pin"), "2468"))
		status = visit(t, tab, chromedp.Click(chromedp.CSS("form .btn-primary")))
		expectStatus(t, status, http.StatusOK)
		expectText(t, tab, "h1", "Done")
		expectText(t, tab, ".facts", "Deploy")
		shoot("executed")

		st := f.state(l, "deploy/web/run-42")
		if st.Status != "EXECUTED" || st.FailedPinAttempts != 1 || st.Value == nil || *st.Value != "approved" {
			t.Fatalf("after the browser's choice: status %s, failed PINs %d, value %v", st.Status, st.FailedPinAttempts, st.Value)
		}
		tab.expectCleanConsole(t)
	})
}

// lowContrast lists the texts whose contrast with their background is
// below WCAG AA's 4.5:1; the page passes with an empty list.
const lowContrast = `(() => {
  const luminance = color => {
    const [r, g, b] = color.match(/[\d.]+/g).slice(0, 3).map(v => {
      v = Number(v) / 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = el => {
    for (; el; el = el.parentElement) {
      const c = getComputedStyle(el).backgroundColor;
      if (c !== "transparent" && !/, 0\)$/.test(c)) return c;
    }
    return "rgb(255, 255, 255)";
  };
  const low = [];
  document.querySelectorAll("h1, p, label, button:not([hidden]), a, dt, dd, code, strong, time").forEach(el => {
    const [hi, lo] = [luminance(getComputedStyle(el).color), luminance(background(el))].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    if (ratio < 4.5) low.push(el.tagName + "." + el.className + ": " + ratio.toFixed(2));
  });
  return low.join("\n");
})()`

func expectContrast(t *testing.T, tb *tab) {
	t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	low, err := chromedp.Run(ctx, chromedp.Evaluate[string](lowContrast))
	if err != nil {
		t.Fatalf("measure contrast: %v", err)
	}
	if low != "" {
		t.Fatalf("texts below 4.5:1 contrast:\n%s", low)
	}
}

// tab is one browser tab and what its console said.
type tab struct {
	ctx context.Context
	mu  sync.Mutex
	bad []string
}

func newTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	// The person is on a phone; screenshots switch sizes and come back.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(viewports[0].width, viewports[0].height)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	tb := &tab{ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// A refused resource (the 403 of a wrong PIN, a favicon) is
			// logged by the network; script errors and CSP refusals are not
			// allowed.
			if m.IsException() || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
				tb.mu.Lock()
				tb.bad = append(tb.bad, m.String())
				tb.mu.Unlock()
			}
		}
	}()
	return tb
}

func (tb *tab) expectCleanConsole(t *testing.T) {
	t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.bad) > 0 {
		t.Errorf("the browser console reported:\n%s", strings.Join(tb.bad, "\n"))
	}
}

// step bounds one browser step; the tab itself lives as long as the test.
func (tb *tab) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(tb.ctx, 30*time.Second)
}

func do(t *testing.T, tb *tab, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// visit runs an action that loads a page and returns the page's HTTP status.
func visit(t *testing.T, tb *tab, action chromedp.Action[chromedp.Void]) int64 {
	t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, action)
	if err != nil {
		t.Fatalf("browser navigation: %v", err)
	}
	return resp.Status
}

func expectStatus(t *testing.T, got int64, want int) {
	t.Helper()
	if got != int64(want) {
		t.Fatalf("the page answered %d, want %d", got, want)
	}
}

func waitFor(t *testing.T, tb *tab, selector string) {
	t.Helper()
	do(t, tb, chromedp.WaitVisible(chromedp.CSS(selector)))
}

func expectText(t *testing.T, tb *tab, selector, want string) {
	t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(selector)))
	if err != nil {
		t.Fatalf("text of %s: %v", selector, err)
	}
	if !strings.Contains(got, want) {
		t.Fatalf("%s says %q, want %q in it", selector, got, want)
	}
}

func expectEval[T comparable](t *testing.T, tb *tab, expression string, want T) {
	t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expression, err)
	}
	if got != want {
		t.Fatalf("%s = %v, want %v", expression, got, want)
	}
}

// screenshots saves the page at each viewport size under the artifacts
// directory.
func screenshots(t *testing.T, tb *tab, name string) {
	t.Helper()
	dir := artifactsDir(t)
	for _, v := range viewports {
		ctx, cancel := tb.step()
		png, err := chromedp.Run(ctx, func(ctx context.Context, target *chromedp.Target) ([]byte, error) {
			if _, err := chromedp.EmulateViewport(v.width, v.height)(ctx, target); err != nil {
				return nil, err
			}
			return chromedp.CaptureScreenshot()(ctx, target)
		})
		cancel()
		if err != nil {
			t.Fatalf("screenshot %s at %s size: %v", name, v.name, err)
		}
		file := filepath.Join(dir, fmt.Sprintf("approval-%s-%s.png", name, v.name))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatalf("save screenshot: %v", err)
		}
	}
	do(t, tb, chromedp.EmulateViewport(viewports[0].width, viewports[0].height))
}

// artifactsDir is $OTTR_ARTIFACTS_DIR, or artifacts/ at the repository root
// (git-ignored).
func artifactsDir(t *testing.T) string {
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
