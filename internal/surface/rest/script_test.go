package rest_test

import (
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

var linkLine = regexp.MustCompile(`https?://\S+/a/[A-Za-z0-9_-]+`)

// TestGitHubActionsScript runs the GitHub Actions step of the integration
// guide (testdata/github-actions.sh: bash and curl, nothing else) against
// the server, as a job would, while a person decides through the link it
// prints: Deploy lets the job go on (exit 0), Cancel stops it (exit 1). A
// re-run of a cancelled job asks again rather than reading the previous
// attempt's decision from the key, and an approval nobody decides ends the
// job when it expires (exit 2).
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
			name, action, runID, attempt string
			exit                         int
			says, value                  string
		}{
			{"deploy", "deploy", "4242", "1", 0, "Approved: deploying.", "approved"},
			{"cancel", "cancel", "4243", "1", 1, "Cancelled.", "rejected"},
			// The key still reads "rejected": the re-run must not take it
			// for this attempt's answer.
			{"re-run after cancel, undecided", "", "4243", "2", 2, "", "waiting"},
			{"second re-run, deployed", "deploy", "4243", "3", 0, "Approved: deploying.", "approved"},
			{"expiry", "", "4244", "1", 2, "", "waiting"},
		} {
			env := append(os.Environ(), "OTTR_URL="+f.srv.URL, "OTTR_API_KEY="+f.write, "OTTR_WAIT_SECONDS=1",
				"GITHUB_REPOSITORY=octo/web", "GITHUB_RUN_ID="+tc.runID, "GITHUB_RUN_ATTEMPT="+tc.attempt, "GITHUB_SHA=3f2a9c1")
			run := testserver.RunScript(t, env, func(line string) {
				link := linkLine.FindString(line)
				switch {
				case link == "":
				case tc.action == "":
					// Nobody decides: the 30 minutes pass.
					f.clock.Advance(31 * time.Minute)
				default:
					// The job waits meanwhile; a person decides.
					if status := f.execute(link, tc.action, ""); status != http.StatusOK {
						t.Errorf("%s: pressing %s: %d", tc.name, tc.action, status)
					}
				}
			}, "testdata/github-actions.sh")
			if run.ExitCode != tc.exit {
				t.Fatalf("%s: exit %d (%v), want %d\nstdout:\n%s\nstderr:\n%s", tc.name, run.ExitCode, run.Err, tc.exit, run.Stdout, run.Stderr)
			}
			if !strings.Contains(run.Stdout, tc.says) || !linkLine.MatchString(run.Stdout) {
				t.Fatalf("%s: the job printed\n%s", tc.name, run.Stdout)
			}
			if tc.exit == 2 && !strings.Contains(run.Stderr, "the approval is expired") {
				t.Fatalf("%s: the job said\n%s", tc.name, run.Stderr)
			}
			var value *string
			f.do("GET", "/v1/key/deploy/octo/web/"+tc.runID, f.read, "").decode(t, http.StatusOK, &value)
			if value == nil || *value != tc.value {
				t.Fatalf("%s: key reads %v, want %q", tc.name, value, tc.value)
			}
		}
	})
}
