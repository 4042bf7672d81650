package webhook

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/domain/event"
)

// Payload is the body of every webhook request: one shape for every event
// type. It is built from the event alone, so every retry of a delivery
// sends the same bytes.
type Payload struct {
	// ID is the event's id, as GraphQL's Event.id: the same for every
	// endpoint the event goes to (webhook-id is the delivery's).
	ID         string       `json:"id"`
	Type       event.Type   `json:"type"`
	OccurredAt time.Time    `json:"occurredAt"`
	Project    ProjectRef   `json:"project"`
	Approval   *ApprovalRef `json:"approval,omitempty"`
}

// ProjectRef names the event's project.
type ProjectRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ApprovalRef is the approval an event is about. Status is the one the
// event put it in (PIN_FAILED leaves it PENDING), not the one it has when
// the request is made.
type ApprovalRef struct {
	ID       string        `json:"id"`
	KeyPath  string        `json:"keyPath"`
	RefID    *string       `json:"refId"`
	Status   string        `json:"status"`
	Decision *DecisionBody `json:"decision,omitempty"`
}

// DecisionBody is an APPROVAL_EXECUTED event's decision, as GraphQL's
// Approval.decision.
type DecisionBody struct {
	Action    ActionBody  `json:"action"`
	Comment   *string     `json:"comment"`
	DecidedAt time.Time   `json:"decidedAt"`
	DecidedBy DeciderBody `json:"decidedBy"`
}

// ActionBody is the action picked.
type ActionBody struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Label string `json:"label"`
}

// DeciderBody is who decided, and where.
type DeciderBody struct {
	Via           string  `json:"via"`
	UserID        *string `json:"userId"`
	SlackUserID   *string `json:"slackUserId"`
	SlackUserName *string `json:"slackUserName"`
}

// statusAfter is the status an event leaves its approval in.
func statusAfter(t event.Type) string {
	switch t {
	case event.ApprovalExecuted:
		return string(approval.Executed)
	case event.ApprovalExpired:
		return string(approval.Expired)
	case event.ApprovalInvalidated:
		return string(approval.Invalidated)
	case event.TokenLocked:
		return string(approval.Locked)
	}
	return string(approval.Pending)
}

// ApprovalFacts are what the payload needs of an event's approval.
type ApprovalFacts struct {
	ID      string
	RefID   *string
	Actions []approval.Action
}

// NewPayload builds the payload of ev, of project (id, name), about a (nil
// for an event without an approval).
func NewPayload(ev event.Event, projectName string, a *ApprovalFacts) Payload {
	p := Payload{ID: strconv.FormatInt(ev.ID, 10), Type: ev.Type, OccurredAt: ev.OccurredAt.UTC(),
		Project: ProjectRef{ID: ev.ProjectID, Name: projectName}}
	if a != nil {
		ref := &ApprovalRef{ID: a.ID, KeyPath: ev.KeyPath, RefID: a.RefID, Status: statusAfter(ev.Type)}
		if d := approval.DecisionOf(ev, a.Actions); d != nil {
			ref.Decision = &DecisionBody{
				Action:    ActionBody{Key: d.Action.Key, Value: d.Action.Value, Label: d.Action.Label},
				Comment:   d.Comment,
				DecidedAt: d.DecidedAt.UTC(),
				DecidedBy: DeciderBody{Via: string(d.DecidedBy.Via), UserID: d.DecidedBy.UserID,
					SlackUserID: d.DecidedBy.SlackUserID, SlackUserName: d.DecidedBy.SlackUserName},
			}
		}
		p.Approval = ref
	}
	return p
}

// JSON encodes the payload.
func (p Payload) JSON() ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode webhook payload of event %s: %w", p.ID, err)
	}
	return b, nil
}
