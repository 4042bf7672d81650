package rest

import (
	"strings"
	"time"

	"github.com/ottr/backend/internal/domain/approval"
)

// decisionJSON is how an executed approval was decided.
type decisionJSON struct {
	Action    string      `json:"action"`
	Comment   *string     `json:"comment"`
	DecidedAt time.Time   `json:"decided_at"`
	DecidedBy deciderJSON `json:"decided_by"`
}

type deciderJSON struct {
	Via           string  `json:"via"` // link, slack or dashboard
	UserID        *string `json:"user_id"`
	SlackUserID   *string `json:"slack_user_id"`
	SlackUserName *string `json:"slack_user_name"`
}

func toDecisionJSON(d *approval.Decision) *decisionJSON {
	if d == nil {
		return nil
	}
	return &decisionJSON{Action: d.Action.Key, Comment: d.Comment, DecidedAt: d.DecidedAt.UTC(), DecidedBy: deciderJSON{
		Via: strings.ToLower(string(d.DecidedBy.Via)), UserID: d.DecidedBy.UserID,
		SlackUserID: d.DecidedBy.SlackUserID, SlackUserName: d.DecidedBy.SlackUserName,
	}}
}
