package approvalpage_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
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
		tab := testserver.OpenTab(t, browser, viewports[0].width, viewports[0].height)
		// Each page is checked for contrast and saved as a screenshot.
		shoot := func(name string) {
			expectContrast(t, tab)
			screenshots(t, tab, string(d)+"-"+name)
		}

		status := visit(t, tab, chromedp.Navigate(l.URL))
		expectStatus(t, status, http.StatusOK)
		tab.WaitFor(t, "#pin")
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
		tab.Do(t, chromedp.SendKeys(chromedp.CSS("#pin"), "1357\r"))
		status = visit(t, tab, chromedp.Click(chromedp.CSS(`button[value="approve"]`)))
		expectStatus(t, status, http.StatusForbidden)
		expectText(t, tab, "h1", "Wrong PIN")
		expectText(t, tab, ".result", "4 attempts left.")
		shoot("wrong-pin")

		status = visit(t, tab, chromedp.Click(chromedp.CSS("a.btn")))
		expectStatus(t, status, http.StatusOK)
		tab.WaitFor(t, "#pin")
		expectText(t, tab, "#pin-hint", "4 attempts left.")
		tab.Do(t, chromedp.SendKeys(chromedp.CSS("#pin"), "2468"))
		status = visit(t, tab, chromedp.Click(chromedp.CSS("form .btn-primary")))
		expectStatus(t, status, http.StatusOK)
		expectText(t, tab, "h1", "Done")
		expectText(t, tab, ".facts", "Deploy")
		shoot("executed")

		st := f.state(l, "deploy/web/run-42")
		if st.Status != "EXECUTED" || st.FailedPinAttempts != 1 || st.Value == nil || *st.Value != "approved" {
			t.Fatalf("after the browser's choice: status %s, failed PINs %d, value %v", st.Status, st.FailedPinAttempts, st.Value)
		}
		tab.ExpectCleanConsole(t)
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

func expectContrast(t *testing.T, tb *testserver.Tab) {
	t.Helper()
	ctx, cancel := tb.Step()
	defer cancel()
	low, err := chromedp.Run(ctx, chromedp.Evaluate[string](lowContrast))
	if err != nil {
		t.Fatalf("measure contrast: %v", err)
	}
	if low != "" {
		t.Fatalf("texts below 4.5:1 contrast:\n%s", low)
	}
}

// visit runs an action that loads a page and returns the page's HTTP status.
func visit(t *testing.T, tb *testserver.Tab, action chromedp.Action[chromedp.Void]) int64 {
	t.Helper()
	ctx, cancel := tb.Step()
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

func expectText(t *testing.T, tb *testserver.Tab, selector, want string) {
	t.Helper()
	ctx, cancel := tb.Step()
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(selector)))
	if err != nil {
		t.Fatalf("text of %s: %v", selector, err)
	}
	if !strings.Contains(got, want) {
		t.Fatalf("%s says %q, want %q in it", selector, got, want)
	}
}

func expectEval[T comparable](t *testing.T, tb *testserver.Tab, expression string, want T) {
	t.Helper()
	ctx, cancel := tb.Step()
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
func screenshots(t *testing.T, tb *testserver.Tab, name string) {
	t.Helper()
	dir := testserver.ArtifactsDir(t)
	for _, v := range viewports {
		ctx, cancel := tb.Step()
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
	tb.Do(t, chromedp.EmulateViewport(viewports[0].width, viewports[0].height))
}

// artifactsDir is $OTTR_ARTIFACTS_DIR, or artifacts/ at the repository root
// (git-ignored).
