package notify

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/platform/store"
)

// decorate adds to a message what only some need, read apart so that the
// common delivery stays one query: the buttons of "Approval created" in a
// channel with a signing secret, and the decider of "Approval executed".
func decorate(ctx context.Context, st *store.Store, t *target) error {
	if t.event == nil || t.detailsErr != nil || t.event.ApprovalID == nil {
		return nil
	}
	db := st.DB(ctx)
	switch t.event.Type {
	case event.ApprovalCreated:
		var (
			interactive, pin bool
			actions          string
			refID            sql.NullString
		)
		err := db.Raw(`SELECT c.signing_secret_enc IS NOT NULL, a.actions, a.ref_id, a.pin_hash IS NOT NULL
			FROM slack_channels c, approvals a WHERE c.id = ? AND a.id = ?`, t.channel.ID, *t.event.ApprovalID).
			Row().Scan(&interactive, &actions, &refID, &pin)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return fmt.Errorf("load buttons of approval %s: %w", *t.event.ApprovalID, err)
		}
		if !interactive {
			return nil
		}
		var list []approval.Action
		if err := json.Unmarshal([]byte(actions), &list); err != nil {
			return fmt.Errorf("decode actions of approval %s: %w", *t.event.ApprovalID, err)
		}
		b := &slack.Buttons{ApprovalID: *t.event.ApprovalID, ChannelID: t.channel.ID, RefID: refID.String,
			PinRequired: pin}
		for _, a := range list {
			b.Actions = append(b.Actions, slack.Button{Key: a.Key, Label: a.Label, Style: string(a.Style)})
		}
		t.details.Buttons = b
	case event.ApprovalExecuted:
		var ev event.Event
		if err := db.Where("id = ?", t.event.ID).Take(&ev).Error; err != nil {
			return fmt.Errorf("load decision of event %d: %w", t.event.ID, err)
		}
		if ev.DecidedVia == nil || *ev.DecidedVia == string(approval.ViaLink) && ev.Comment == nil {
			return nil // a link's decider is not known
		}
		d := &slack.Decider{Via: *ev.DecidedVia}
		for _, f := range []struct {
			dst *string
			src *string
		}{{&d.SlackUserID, ev.DecidedBySlackUserID}, {&d.SlackUserName, ev.DecidedBySlackUserName}, {&d.Comment, ev.Comment}} {
			if f.src != nil {
				*f.dst = *f.src
			}
		}
		if ev.DecidedByUserID != nil {
			_ = db.Raw("SELECT name FROM users WHERE id = ?", *ev.DecidedByUserID).Row().Scan(&d.UserName)
		}
		t.details.DecidedBy = d
	}
	return nil
}
