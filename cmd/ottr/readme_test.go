package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// TestMain lets this test binary stand in for the ottr command: the README
// test puts it on PATH under that name, so that the examples run the
// command built from this tree, as written.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "ottr" {
		main()
		return
	}
	os.Exit(m.Run())
}

// scriptBlocks returns the ```sh blocks of the README section titled
// heading.
func scriptBlocks(t *testing.T, heading string) []string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## "+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no section %q", heading)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var blocks []string
	for rest := section; ; {
		_, after, found := strings.Cut(rest, "\n```sh\n")
		if !found {
			break
		}
		block, tail, closed := strings.Cut(after, "\n```\n")
		if !closed {
			t.Fatal("README.md: unclosed code block")
		}
		blocks = append(blocks, block)
		rest = "\n" + tail
	}
	return blocks
}

var approvalLink = regexp.MustCompile(`https?://[^\s"]+/a/[A-Za-z0-9_-]+`)

// TestReadmeScriptExamples runs the README's "From a script" examples, as
// written, with bash, curl and this tree's ottr against a real server, with
// OTTR_URL and OTTR_API_KEY (a WRITE key) set. Whoever decides presses the
// first button of every link an example prints.
func TestReadmeScriptExamples(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: the README examples use it", tool)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(self, filepath.Join(bin, "ottr")); err != nil {
		t.Fatal(err)
	}
	blocks := scriptBlocks(t, "From a script")
	// What each block, in order, must print.
	want := [][]string{
		{`"status":"executed"`, `"approved"`},
		{`"pending":{"approval_id"`, `"status":"invalidated"`, `"invalidation_reason":"not today"`},
		{`"key_path":"release/web"`},
		{`"name":"deploys"`, `"name":"releases"`, `"events":["approval_created","approval_executed"]`},
		{"maintenance", "approved: deploying"},
	}
	if len(blocks) != len(want) {
		t.Fatalf("the section has %d sh blocks, the test expects %d: update both together", len(blocks), len(want))
	}
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		fake := slacktest.NewServer()
		t.Cleanup(fake.Close)
		cfg := testserver.Config(t, d)
		cfg.SlackWebhookPrefixes = append(cfg.SlackWebhookPrefixes, fake.Prefix())
		srv := testserver.StartWith(t, cfg)
		owner := srv.SignUp("Owner")
		pid := owner.CreateProject("myapp")
		_, key := owner.CreateAPIKey(pid, "WRITE")
		env := append(os.Environ(), "OTTR_URL="+srv.URL, "OTTR_API_KEY="+key, "SLACK_WEBHOOK_URL="+fake.WebhookURL("T1", "B1", "S3cret"),
			"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		pressed := map[string]bool{}
		var decisions sync.WaitGroup
		for i, block := range blocks {
			run := testserver.RunScript(t, env, func(line string) {
				for _, link := range approvalLink.FindAllString(line, -1) {
					if pressed[link] {
						continue
					}
					pressed[link] = true
					decisions.Go(func() {
						if status, err := srv.ExecuteLink(link, "", ""); err != nil || status != http.StatusOK {
							t.Errorf("block %d: pressing the link's first button: %d %v", i+1, status, err)
						}
					})
				}
			}, "-euo", "pipefail", "-c", block)
			decisions.Wait()
			if run.Err != nil {
				t.Fatalf("block %d failed: %v\n%s\nstdout:\n%s\nstderr:\n%s", i+1, run.Err, block, run.Stdout, run.Stderr)
			}
			for _, s := range want[i] {
				if !strings.Contains(run.Stdout, s) {
					t.Errorf("block %d printed no %s:\n%s\nstderr:\n%s", i+1, s, run.Stdout, run.Stderr)
				}
			}
		}
		// The idempotent create printed one approval twice.
		if n := len(pressed); n != 3 {
			t.Errorf("%d links printed, want 3 (one of them twice)", n)
		}
	})
}
