package rest_test

import (
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/ottr/backend/internal/store"
	"github.com/ottr/backend/internal/store/storetest"
	"github.com/ottr/backend/internal/testserver"
)

var linkLine = regexp.MustCompile(`https?://\S+/a/[A-Za-z0-9_-]+`)

// TestGitHubActionsScript runs the GitHub Actions step of the integration
// guide (testdata/github-actions.sh: bash and curl, nothing else) against
// the server, as a job would, while a person decides through the link it
// prints: Deploy lets the job go on (exit 0), Cancel stops it (exit 1).
func TestGitHubActionsScript(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: the script test runs it", tool)
		}
	}
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d)
		for _, tc := range []struct {
			action, runID string
			exit          int
			says          string
		}{
			{"deploy", "4242", 0, "Approved: deploying."},
			{"cancel", "4243", 1, "Cancelled."},
		} {
			env := append(os.Environ(), "OTTR_URL="+f.srv.URL, "OTTR_API_KEY="+f.write, "OTTR_POLL_SECONDS=1",
				"GITHUB_REPOSITORY=octo/web", "GITHUB_RUN_ID="+tc.runID, "GITHUB_RUN_ATTEMPT=1", "GITHUB_SHA=3f2a9c1")
			run := testserver.RunScript(t, env, func(line string) {
				if link := linkLine.FindString(line); link != "" {
					// The job polls the key meanwhile; a person decides.
					if status := f.execute(link, tc.action, ""); status != http.StatusOK {
						t.Fatalf("pressing %s: %d", tc.action, status)
					}
				}
			}, "testdata/github-actions.sh")
			if run.ExitCode != tc.exit {
				t.Fatalf("%s: exit %d (%v), want %d\nstdout:\n%s\nstderr:\n%s", tc.action, run.ExitCode, run.Err, tc.exit, run.Stdout, run.Stderr)
			}
			if !strings.Contains(run.Stdout, tc.says) || !linkLine.MatchString(run.Stdout) {
				t.Fatalf("%s: the job printed\n%s", tc.action, run.Stdout)
			}
			var value *string
			f.do("GET", "/v1/key/deploy/octo/web/"+tc.runID, f.read, "").decode(t, http.StatusOK, &value)
			if value == nil || (*value != "approved" && *value != "rejected") {
				t.Fatalf("key reads %v", value)
			}
		}
	})
}
