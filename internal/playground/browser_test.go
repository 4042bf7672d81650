package playground_test

import (
	"context"
	"errors"
	"fmt"
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

// The playground as a developer meets it in headless Chromium, with no
// internet: the docs explorer lists the schema, a query runs with an API
// key from the headers editor, and a subscription receives an event over
// graphql-ws. The screenshot is saved to the artifacts directory (the
// README's docs/playground.png is one of them).
func TestPlaygroundInABrowser(t *testing.T) {
	t.Parallel()
	browser := testserver.StartBrowser(t)
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		srv := testserver.Start(t, d)
		alice := srv.SignUp("Alice")
		pid := alice.CreateProject("Acme Deployments")
		_, key := alice.CreateAPIKey(pid, "WRITE")
		tab := newTab(t, browser)

		do(t, tab, chromedp.Navigate(srv.URL+"/"))
		waitFor(t, tab, ".graphiql-query-editor .monaco-editor")
		headers := `.graphiql-editor-tool .graphiql-editor:not(.hidden) .monaco-editor`
		waitFor(t, tab, headers)
		waitForText(t, tab, headers, `"Authorization": "Bearer <token or otw_… key>"`)

		// The docs explorer has the schema: the introspection query of
		// GraphiQL passed.
		do(t, tab, chromedp.Click(chromedp.CSS(`.graphiql-sidebar button[aria-label="Show Documentation Explorer"]`)))
		waitForText(t, tab, ".graphiql-doc-explorer", "Query")
		waitForText(t, tab, ".graphiql-doc-explorer", "Mutation")
		waitForText(t, tab, ".graphiql-doc-explorer", "Subscription")
		// The schema's description lists the error codes.
		waitForText(t, tab, ".graphiql-doc-explorer", "COMPLEXITY_LIMIT_EXCEEDED")

		// The welcome query runs as it is; the example header, still a
		// placeholder, is not sent, so the answer asks for credentials
		// instead of calling them invalid.
		waitForText(t, tab, ".graphiql-session-header", "MyProjects")
		do(t, tab, chromedp.Click(chromedp.CSS(".graphiql-execute-button")))
		waitForText(t, tab, ".graphiql-response", `"message": "authentication required"`)

		setEditor(t, tab, headers, "{\n  \"Authorization\": \"Bearer "+key+"\"\n}")
		setEditor(t, tab, ".graphiql-query-editor .monaco-editor",
			fmt.Sprintf("query AcmeProject {\n  project(id: %q) {\n    name\n    myRole\n  }\n}", pid))
		// GraphiQL names the tab after the operation once it has read it.
		waitForText(t, tab, ".graphiql-session-header", "AcmeProject")
		do(t, tab, chromedp.Click(chromedp.CSS(".graphiql-execute-button")))
		waitForText(t, tab, ".graphiql-response", `"name": "Acme Deployments"`)
		waitForText(t, tab, ".graphiql-response", `"myRole": "MEMBER"`)

		setEditor(t, tab, ".graphiql-query-editor .monaco-editor",
			fmt.Sprintf("subscription AcmeEvents {\n  projectEvents(projectId: %q, types: [APPROVAL_CREATED]) {\n    type\n    keyPath\n    occurredAt\n  }\n}", pid))
		waitForText(t, tab, ".graphiql-session-header", "AcmeEvents")
		do(t, tab, chromedp.Click(chromedp.CSS(".graphiql-execute-button")))
		// The subscription starts when its websocket is acknowledged; an
		// approval created before that is not live yet, so create one until
		// the response shows it (replay is not asked for).
		deadline := time.Now().Add(20 * time.Second)
		for i := 0; ; i++ {
			alice.MustDo(`mutation($p: ID!, $k: String!) { createApproval(projectId: $p, input: {keyPath: $k, value: "approved", info: "Deploy web v2.14.0 to production?"}) { url } }`,
				map[string]any{"p": pid, "k": fmt.Sprintf("deploy/web/run-%d", i)}, nil)
			if text := editorText(t, tab, ".graphiql-response"); strings.Contains(text, `"type": "APPROVAL_CREATED"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the subscription received nothing: %q", editorText(t, tab, ".graphiql-response"))
			}
			time.Sleep(300 * time.Millisecond)
		}
		waitForText(t, tab, ".graphiql-response", `"keyPath": "deploy/web/run-`)
		screenshot(t, tab, "playground-"+string(d)+".png")
		tab.expectCleanConsole(t)
	})
}

// setEditor replaces the text of a Monaco editor as a person pasting it
// would: focus, select all, paste (typed characters would be auto-closed).
func setEditor(t *testing.T, tb *tab, selector, text string) {
	t.Helper()
	do(t, tb,
		chromedp.Focus(chromedp.CSS(selector+" textarea")),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
	)
	ctx, cancel := tb.step()
	defer cancel()
	paste := fmt.Sprintf(`(() => {
  const data = new DataTransfer();
  data.setData("text/plain", %q);
  document.activeElement.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}));
})()`, text)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](paste)); err != nil {
		t.Fatalf("paste into %s: %v", selector, err)
	}
	waitForText(t, tb, selector+" .view-lines", text)
}

// editorText is what an element shows, with the non-breaking spaces Monaco
// renders as plain ones.
func editorText(t *testing.T, tb *tab, selector string) string {
	t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		fmt.Sprintf(`(document.querySelector(%q)?.innerText ?? "").replace(/\u00a0/g, " ")`, selector)))
	if err != nil {
		t.Fatalf("text of %s: %v", selector, err)
	}
	return text
}

func waitForText(t *testing.T, tb *tab, selector, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		text := editorText(t, tb, selector)
		if strings.Contains(text, want) {
			return
		}
		if time.Now().After(deadline) {
			screenshot(t, tb, "playground-failed.png")
			t.Fatalf("%s shows %q, want %q in it", selector, text, want)
		}
		time.Sleep(100 * time.Millisecond)
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
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	tb := &tab{ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// Script errors and CSP refusals fail the test.
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

func waitFor(t *testing.T, tb *tab, selector string) {
	t.Helper()
	do(t, tb, chromedp.WaitVisible(chromedp.CSS(selector)))
}

// screenshot saves the page under the artifacts directory.
func screenshot(t *testing.T, tb *tab, name string) {
	t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(artifactsDir(t), name), png, 0o644); err != nil {
		t.Fatalf("save screenshot: %v", err)
	}
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
