package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

func TestRotateEncryptionKey(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		fake := slacktest.NewServer()
		t.Cleanup(fake.Close)
		oldKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
		newKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
		cfg := testserver.Config(t, d)
		cfg.SlackWebhookPrefixes = append(cfg.SlackWebhookPrefixes, fake.Prefix())
		cfg.Delivery.FetchPollInterval = 100 * time.Millisecond
		ctx := context.Background()

		// Channels written under the old key.
		cfg.EncryptionKey = oldKey
		before := testserver.StartWith(t, cfg)
		owner := before.SignUp("Owner")
		pid := owner.CreateProject("P")
		urls := []string{fake.WebhookURL("T1", "B1", "RotateS3cretA"), fake.WebhookURL("T1", "B2", "RotateS3cretB")}
		for i, url := range urls {
			owner.AddSlackChannel(pid, "old-"+string(rune('a'+i)), url, "PIN_FAILED")
		}
		lost := owner.AddSlackChannel(pid, "lost", fake.WebhookURL("T1", "B9", "RotateS3cretL"), "PIN_FAILED")
		storetest.Must(t, before.App.Store.DB(ctx).Exec("UPDATE slack_channels SET key_version = 7 WHERE id = ?", lost).Error)
		storetest.Must(t, before.App.Close())

		// Restarted with the new key, the old one still known; a channel
		// added now is encrypted with the new key.
		cfg.EncryptionKey, cfg.OldEncryptionKeys = newKey, []string{oldKey}
		during := testserver.StartWith(t, cfg)
		urls = append(urls, fake.WebhookURL("T1", "B3", "RotateS3cretC"))
		during.Client(owner.AccessToken).AddSlackChannel(pid, "new", urls[2], "PIN_FAILED")
		type row struct {
			ID            string
			WebhookURLEnc string
			KeyVersion    int
		}
		read := func() map[string]row {
			var rows []row
			storetest.Must(t, during.App.Store.DB(ctx).Raw("SELECT id, webhook_url_enc, key_version FROM slack_channels").Scan(&rows).Error)
			out := map[string]row{}
			for _, r := range rows {
				out[r.ID] = r
			}
			return out
		}
		old := read()

		var logs bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&logs, nil))
		err := rotateEncryptionKey(ctx, cfg, logger)
		if err == nil || !strings.Contains(err.Error(), lost) {
			t.Errorf("rotation with a row on an unknown key: %v", err)
		}
		newVersion := slack.KeyVersion(bytes.Repeat([]byte{2}, 32))
		for id, r := range read() {
			switch {
			case id == lost:
				if r != old[id] {
					t.Errorf("the undecryptable row changed")
				}
			case r.KeyVersion != newVersion:
				t.Errorf("channel %s still on key version %d", id, r.KeyVersion)
			case old[id].KeyVersion != newVersion && r.WebhookURLEnc == old[id].WebhookURLEnc:
				t.Errorf("channel %s was not re-encrypted", id)
			}
		}
		if !strings.Contains(logs.String(), "rows=2") {
			t.Errorf("log: %s", logs.String())
		}
		storetest.Must(t, during.App.Store.DB(ctx).Exec("DELETE FROM slack_channels WHERE id = ?", lost).Error)
		logs.Reset()
		storetest.Must(t, rotateEncryptionKey(ctx, cfg, logger))
		if !strings.Contains(logs.String(), "rows=0") {
			t.Errorf("second run: %s", logs.String())
		}
		storetest.Must(t, during.App.Close())

		// Without the old key, every channel still delivers.
		cfg.OldEncryptionKeys = nil
		after := testserver.StartWith(t, cfg)
		var out struct {
			Project struct {
				SlackChannels []struct{ WebhookURLMasked string }
			}
		}
		after.Client(owner.AccessToken).MustDo(`query($p: ID!) { project(id: $p) { slackChannels { webhookUrlMasked } } }`, map[string]any{"p": pid}, &out)
		if len(out.Project.SlackChannels) != 3 || !strings.HasSuffix(out.Project.SlackChannels[0].WebhookURLMasked, "/services/T1/B1/••••") {
			t.Errorf("channels %+v", out.Project.SlackChannels)
		}
		storetest.Must(t, after.App.Recorder.Record(ctx, &event.Event{Type: event.PinFailed, ProjectID: pid, KeyPath: "k"}))
		if _, err := fake.Wait(3, 20*time.Second); err != nil {
			t.Fatal(err)
		}
		for _, url := range urls {
			if n := len(fake.RequestsTo(url)); n != 1 {
				t.Errorf("%s got %d messages", slack.Mask(url), n)
			}
		}
		for _, s := range []*testserver.Server{before, during, after} {
			if strings.Contains(s.Logs.String(), "RotateS3cret") {
				t.Errorf("a log contains a webhook secret")
			}
		}
	})
}
