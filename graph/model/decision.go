package model

import "time"

// Decision is how an approval was decided.
type Decision struct {
	Action    *ApprovalAction `json:"action"`
	Comment   *string         `json:"comment,omitempty"`
	DecidedAt time.Time       `json:"decidedAt"`
	DecidedBy *Decider        `json:"decidedBy"`
}

// Decider is who decided; the user is resolved from UserID.
type Decider struct {
	// ProjectID authorizes reading the deciding user.
	ProjectID     string      `json:"-"`
	Via           DecisionVia `json:"via"`
	UserID        *string     `json:"-"`
	SlackUserID   *string     `json:"slackUserId,omitempty"`
	SlackUserName *string     `json:"slackUserName,omitempty"`
}
