package graph

import (
	"github.com/ottr/backend/graph/model"
	"github.com/ottr/backend/internal/domain/approval"
)

func toDecision(d *approval.Decision, projectID string) *model.Decision {
	if d == nil {
		return nil
	}
	action := d.Action
	return &model.Decision{Action: toAction(action), Comment: d.Comment, DecidedAt: d.DecidedAt, DecidedBy: &model.Decider{
		ProjectID: projectID, Via: model.DecisionVia(d.DecidedBy.Via), UserID: d.DecidedBy.UserID,
		SlackUserID: d.DecidedBy.SlackUserID, SlackUserName: d.DecidedBy.SlackUserName,
	}}
}
