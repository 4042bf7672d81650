package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/domain/webhook"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// Rotating the encryption key re-encrypts webhook endpoint URLs and both
// their secrets, the project's callback secrets and approvals' callback
// URLs; without the old key, the endpoint and the callback still receive
// requests signed with the secrets shown before.
func TestRotateEncryptionKeyCoversWebhooksAndCallbacks(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		var (
			mu  sync.Mutex
			got = map[string]*http.Request{} // by path
			in  = map[string][]byte{}
		)
		arrived := make(chan struct{}, 10)
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			got[r.URL.Path], in[r.URL.Path] = r, body
			mu.Unlock()
			arrived <- struct{}{}
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(rcv.Close)
		waitFor := func(n int) {
			t.Helper()
			for range n {
				select {
				case <-arrived:
				case <-time.After(20 * time.Second):
					t.Fatalf("fewer than %d requests in 20 s", n)
				}
			}
		}
		oldKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))
		newKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{4}, 32))
		cfg := testserver.Config(t, d)
		cfg.WebhookAllowedPrefixes = []string{rcv.URL + "/"}
		cfg.Delivery.FetchPollInterval = 100 * time.Millisecond
		ctx := context.Background()

		cfg.EncryptionKey = oldKey
		before := testserver.StartWith(t, cfg)
		owner := before.SignUp("Owner")
		pid := owner.CreateProject("P")
		var added struct {
			AddWebhookEndpoint struct {
				Endpoint struct{ ID string }
				Secret   string
			}
		}
		owner.MustDo(`mutation($p: ID!, $u: String!) { addWebhookEndpoint(projectId: $p, input: {name: "e", url: $u, events: [APPROVAL_EXECUTED]}) { endpoint { id } secret } }`,
			map[string]any{"p": pid, "u": rcv.URL + "/endpoint?token=RotS3cret"}, &added)
		var rotated struct{ RotateWebhookSecret struct{ Secret string } }
		owner.MustDo(`mutation($id: ID!) { rotateWebhookSecret(id: $id, overlapSeconds: 3600) { secret } }`,
			map[string]any{"id": added.AddWebhookEndpoint.Endpoint.ID}, &rotated)
		callbackSecret := func(overlap int) string {
			var out struct{ RotateCallbackSecret struct{ Secret string } }
			owner.MustDo(`mutation($p: ID!, $o: Int) { rotateCallbackSecret(projectId: $p, overlapSeconds: $o) { secret } }`,
				map[string]any{"p": pid, "o": overlap}, &out)
			return out.RotateCallbackSecret.Secret
		}
		firstCallback, secondCallback := callbackSecret(0), callbackSecret(3600)
		var created struct{ CreateApproval struct{ URL string } }
		owner.MustDo(`mutation($p: ID!, $u: String!) { createApproval(projectId: $p, input: {keyPath: "k", value: "yes", callbackUrl: $u}) { url } }`,
			map[string]any{"p": pid, "u": rcv.URL + "/callback?token=RotS3cret"}, &created)
		waitFor(1) // APPROVAL_CREATED to the callback
		storetest.Must(t, before.App.Close())

		cfg.EncryptionKey, cfg.OldEncryptionKeys = newKey, []string{oldKey}
		var logs bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&logs, nil))
		storetest.Must(t, rotateEncryptionKey(ctx, cfg, logger))
		// The endpoint's URL, secret and previous secret, the callback
		// secret and its previous one, the callback URL.
		if !strings.Contains(logs.String(), "rows=6") {
			t.Errorf("log: %s", logs.String())
		}
		logs.Reset()
		storetest.Must(t, rotateEncryptionKey(ctx, cfg, logger))
		if !strings.Contains(logs.String(), "rows=0") {
			t.Errorf("second run: %s", logs.String())
		}

		cfg.OldEncryptionKeys = nil
		after := testserver.StartWith(t, cfg)
		newVersion := slack.KeyVersion(bytes.Repeat([]byte{4}, 32))
		for _, q := range []string{
			"SELECT count(*) FROM webhook_endpoints WHERE key_version <> @v OR secret_key_version <> @v OR previous_secret_key_version <> @v",
			"SELECT count(*) FROM callback_secrets WHERE secret_key_version <> @v OR previous_secret_key_version <> @v",
			"SELECT count(*) FROM approvals WHERE callback_key_version <> @v",
		} {
			var n int
			storetest.Must(t, after.App.Store.DB(ctx).Raw(q, sql.Named("v", newVersion)).Scan(&n).Error)
			if n != 0 {
				t.Errorf("%d rows still on an old key: %s", n, q)
			}
		}
		if st, err := after.ExecuteLink(created.CreateApproval.URL, "", ""); err != nil || st != http.StatusOK {
			t.Fatalf("execute: %d %v", st, err)
		}
		waitFor(2) // APPROVAL_EXECUTED to the endpoint and the callback
		mu.Lock()
		defer mu.Unlock()
		for path, secrets := range map[string][]string{
			"/endpoint": {rotated.RotateWebhookSecret.Secret, added.AddWebhookEndpoint.Secret},
			"/callback": {secondCallback, firstCallback},
		} {
			r := got[path]
			if r == nil || !strings.Contains(string(in[path]), `"APPROVAL_EXECUTED"`) {
				t.Fatalf("%s got %s", path, in[path])
			}
			ts, err := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
			storetest.Must(t, err)
			sigs := strings.Fields(r.Header.Get("webhook-signature"))
			for i, secret := range secrets {
				want, err := webhook.Sign(secret, r.Header.Get("webhook-id"), time.Unix(ts, 0), in[path])
				storetest.Must(t, err)
				if len(sigs) != 2 || sigs[i] != want {
					t.Errorf("%s: signatures %q lack the one of secret %d", path, sigs, i)
				}
			}
		}
		for _, s := range []*testserver.Server{before, after} {
			if strings.Contains(s.Logs.String(), "RotS3cret") {
				t.Errorf("a log contains a URL's token")
			}
		}
	})
}
