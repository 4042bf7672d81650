package webhook_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// jsVerify asks the official standardwebhooks npm library whether each
// request verifies with its secret, and returns its verdicts.
func jsVerify(t *testing.T, reqs []request, secrets []string) []string {
	t.Helper()
	// Through NodeTools, like every user of test/js: the first to ask
	// installs, and none reads the packages while another installs them.
	node, dir := testserver.NodeTools(t, "test/js")
	var in bytes.Buffer
	for i, r := range reqs {
		line, _ := json.Marshal(map[string]any{"secret": secrets[i], "body": string(r.Body), "headers": map[string]string{
			"webhook-id": r.Header.Get("webhook-id"), "webhook-timestamp": r.Header.Get("webhook-timestamp"),
			"webhook-signature": r.Header.Get("webhook-signature"),
		}})
		in.Write(append(line, '\n'))
	}
	cmd := exec.Command(node, "verify-webhook.mjs")
	cmd.Dir, cmd.Stdin = dir, &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// The official library verifies our requests with the endpoint's secret;
// after a rotation, with the new secret and, during the overlap, the old
// one; never with another secret.
func TestOfficialLibraryVerifiesSignatures(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		e := newEnv(t, d, newReceiver(t))
		ep, oldSecret := e.add(t, "js", "APPROVAL_CREATED")
		e.createApproval(t, "app/js")
		first := e.rcv.wait(t, 1, 20*time.Second)[0]

		var rotated struct {
			RotateWebhookSecret struct {
				Secret   string
				Endpoint struct{ PreviousSecretExpiresAt *time.Time }
			}
		}
		e.owner.MustDo(`mutation($id: ID!) { rotateWebhookSecret(id: $id, overlapSeconds: 3600) { secret endpoint { previousSecretExpiresAt } } }`,
			map[string]any{"id": ep.ID}, &rotated)
		newSecret := rotated.RotateWebhookSecret.Secret
		if exp := rotated.RotateWebhookSecret.Endpoint.PreviousSecretExpiresAt; newSecret == oldSecret || exp == nil || time.Until(*exp) < 59*time.Minute {
			t.Fatalf("rotation: %+v", rotated)
		}
		e.createApproval(t, "app/js2")
		second := e.rcv.wait(t, 2, 20*time.Second)[1]
		if n := len(strings.Fields(second.Header.Get("webhook-signature"))); n != 2 {
			t.Errorf("%d signatures during the overlap, want 2", n)
		}

		_, otherSecret := e.add(t, "other", "PIN_FAILED")
		got := jsVerify(t, []request{first, second, second, first, second}, []string{oldSecret, newSecret, oldSecret, newSecret, otherSecret})
		want := []string{"ok", "ok", "ok", "refused: ", "refused: "}
		if len(got) < len(want) {
			t.Fatalf("node answered %q", got)
		}
		for i, w := range want {
			if !strings.HasPrefix(got[i], w) {
				t.Errorf("verdict %d: %q, want %q (all: %q)", i, got[i], w, got)
			}
		}
	})
}
