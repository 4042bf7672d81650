package playground_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
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
		tab := testserver.OpenTab(t, browser, 1440, 900)

		tab.Do(t, chromedp.Navigate(srv.URL+"/"))
		tab.WaitFor(t, ".graphiql-query-editor .monaco-editor")
		headers := `.graphiql-editor-tool .graphiql-editor:not(.hidden) .monaco-editor`
		tab.WaitFor(t, headers)
		waitForText(t, tab, headers, `"Authorization": "Bearer <token or otw_… key>"`)

		// The docs explorer has the schema: the introspection query of
		// GraphiQL passed.
		tab.Do(t, chromedp.Click(chromedp.CSS(`.graphiql-sidebar button[aria-label="Show Documentation Explorer"]`)))
		waitForText(t, tab, ".graphiql-doc-explorer", "Query")
		waitForText(t, tab, ".graphiql-doc-explorer", "Mutation")
		waitForText(t, tab, ".graphiql-doc-explorer", "Subscription")
		// The schema's description lists the error codes.
		waitForText(t, tab, ".graphiql-doc-explorer", "COMPLEXITY_LIMIT_EXCEEDED")

		// The welcome query runs as it is; the example header, still a
		// placeholder, is not sent, so the answer asks for credentials
		// instead of calling them invalid.
		waitForText(t, tab, ".graphiql-session-header", "MyProjects")
		tab.Do(t, chromedp.Click(chromedp.CSS(".graphiql-execute-button")))
		waitForText(t, tab, ".graphiql-response", `"message": "authentication required"`)

		setEditor(t, tab, headers, "{\n  \"Authorization\": \"Bearer "+key+"\"\n}")
		setEditor(t, tab, ".graphiql-query-editor .monaco-editor",
			fmt.Sprintf("query AcmeProject {\n  project(id: %q) {\n    name\n    myRole\n  }\n}", pid))
		// GraphiQL names the tab after the operation once it has read it.
		waitForText(t, tab, ".graphiql-session-header", "AcmeProject")
		tab.Do(t, chromedp.Click(chromedp.CSS(".graphiql-execute-button")))
		waitForText(t, tab, ".graphiql-response", `"name": "Acme Deployments"`)
		waitForText(t, tab, ".graphiql-response", `"myRole": "MEMBER"`)

		setEditor(t, tab, ".graphiql-query-editor .monaco-editor",
			fmt.Sprintf("subscription AcmeEvents {\n  projectEvents(projectId: %q, types: [APPROVAL_CREATED]) {\n    type\n    keyPath\n    occurredAt\n  }\n}", pid))
		waitForText(t, tab, ".graphiql-session-header", "AcmeEvents")
		tab.Do(t, chromedp.Click(chromedp.CSS(".graphiql-execute-button")))
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
		tab.ExpectCleanConsole(t)
	})
}

// setEditor replaces the text of a Monaco editor as a person pasting it
// would: focus, select all, paste (typed characters would be auto-closed).
func setEditor(t *testing.T, tb *testserver.Tab, selector, text string) {
	t.Helper()
	tb.Do(t,
		chromedp.Focus(chromedp.CSS(selector+" textarea")),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
	)
	ctx, cancel := tb.Step()
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
func editorText(t *testing.T, tb *testserver.Tab, selector string) string {
	t.Helper()
	ctx, cancel := tb.Step()
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		fmt.Sprintf(`(document.querySelector(%q)?.innerText ?? "").replace(/\u00a0/g, " ")`, selector)))
	if err != nil {
		t.Fatalf("text of %s: %v", selector, err)
	}
	return text
}

func waitForText(t *testing.T, tb *testserver.Tab, selector, want string) {
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

// screenshot saves the page under the artifacts directory.
func screenshot(t *testing.T, tb *testserver.Tab, name string) {
	t.Helper()
	ctx, cancel := tb.Step()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(testserver.ArtifactsDir(t), name), png, 0o644); err != nil {
		t.Fatalf("save screenshot: %v", err)
	}
}

// artifactsDir is $OTTR_ARTIFACTS_DIR, or artifacts/ at the repository root
// (git-ignored).
