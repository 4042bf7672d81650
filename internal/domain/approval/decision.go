package approval

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
)

// MaxCommentLen caps a decider's comment, in characters.
const MaxCommentLen = 500

// Via is where a decision was made. The values are the GraphQL names.
type Via string

const (
	ViaLink      Via = "LINK"
	ViaSlack     Via = "SLACK"
	ViaDashboard Via = "DASHBOARD"
)

// Decider is who made a decision: nobody known for a link (whoever held
// it), a signed-in user on the dashboard, a Slack user in Slack.
type Decider struct {
	Via           Via
	UserID        *string
	SlackUserID   *string
	SlackUserName *string
}

// Decision is an executed approval's action, when and by whom it was
// picked, and the decider's comment.
type Decision struct {
	Action    Action
	Comment   *string
	DecidedAt time.Time
	DecidedBy Decider
}

// decisionColumns are the columns the transition to EXECUTED fills in
// besides the action and time, as an approval or its event stores them.
type decisionColumns struct {
	DecidedVia             *string
	DecidedByUserID        *string
	DecidedBySlackUserID   *string
	DecidedBySlackUserName *string
	DecisionComment        *string
}

func (c decisionColumns) decision(action Action, at time.Time) *Decision {
	// Approvals executed before decisions were recorded went through a link.
	via := ViaLink
	if c.DecidedVia != nil {
		via = Via(*c.DecidedVia)
	}
	return &Decision{Action: action, Comment: c.DecisionComment, DecidedAt: at, DecidedBy: Decider{
		Via: via, UserID: c.DecidedByUserID, SlackUserID: c.DecidedBySlackUserID, SlackUserName: c.DecidedBySlackUserName,
	}}
}

// DecisionOf reads the decision an APPROVAL_EXECUTED event recorded; nil
// for other events.
func DecisionOf(ev event.Event, actions []Action) *Decision {
	if ev.Type != event.ApprovalExecuted || ev.Action == nil {
		return nil
	}
	act, ok := findAction(actions, *ev.Action)
	if !ok {
		act = Action{Key: *ev.Action, Value: "", Label: *ev.Action, Style: StyleDefault}
	}
	return decisionColumns{DecidedVia: ev.DecidedVia, DecidedByUserID: ev.DecidedByUserID,
		DecidedBySlackUserID: ev.DecidedBySlackUserID, DecidedBySlackUserName: ev.DecidedBySlackUserName,
		DecisionComment: ev.Comment}.decision(act, ev.OccurredAt)
}

func (r *row) deciders() ([]string, error) {
	if r.Deciders == nil {
		return nil, nil
	}
	var ids []string
	if err := json.Unmarshal([]byte(*r.Deciders), &ids); err != nil {
		return nil, fmt.Errorf("decode deciders of approval %s: %w", r.ID, err)
	}
	return ids, nil
}

// checkComment validates a decider's optional comment; a blank one is no
// comment.
func checkComment(comment *string) (*string, error) {
	if comment == nil {
		return nil, nil
	}
	if err := apperr.CheckText("comment", *comment); err != nil {
		return nil, err
	}
	if err := checkLength("comment", *comment, MaxCommentLen); err != nil {
		return nil, err
	}
	if isBlank(*comment) {
		return nil, nil
	}
	return comment, nil
}

func isBlank(s string) bool {
	for _, r := range s {
		if r != ' ' && r != '\t' && r != '\n' && r != '\r' {
			return false
		}
	}
	return true
}

// errPINNeeded refuses a decision made elsewhere than the link on an
// approval that needs a PIN: only the link asks for it.
var errPINNeeded = apperr.Forbidden("this approval needs its PIN: decide through its link")

// errLinkNotAllowed refuses the link of an approval created with allowLink
// false.
var errLinkNotAllowed = apperr.Forbidden("this approval cannot be decided through its link; decide in Slack or the dashboard")

// Decide executes a PENDING approval for the signed-in member making the
// request (decideApproval): the same rule as the link (state, expiry,
// action, single use), then who may decide: the Decide permission, the
// approval's deciders when it names any, and the project's no-self-approval
// rule. An approval that needs a PIN is decided only through its link.
func (s *Service) Decide(ctx context.Context, id, actionKey string, comment *string) (*Approval, error) {
	if err := apperr.CheckTexts("id", id, "action", actionKey); err != nil {
		return nil, err
	}
	comment, err := checkComment(comment)
	if err != nil {
		return nil, err
	}
	userID, err := auth.RequireUser(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.load(ctx, byID, id)
	if err != nil {
		return nil, err
	}
	if _, err := s.authz.Authorize(ctx, r.ProjectID, project.Decide); err != nil {
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			return nil, apperr.NotFound("approval")
		}
		return nil, err
	}
	now := s.now()
	if err := s.checkOpen(ctx, r, now); err != nil {
		return nil, err
	}
	action, err := r.action(actionKey)
	if err != nil {
		return nil, err
	}
	if r.PinHash != nil {
		return nil, errPINNeeded
	}
	deciders, err := r.deciders()
	if err != nil {
		return nil, err
	}
	if deciders != nil && !slices.Contains(deciders, userID) {
		return nil, apperr.Forbidden("this approval names who may decide it, and you are not one of them")
	}
	if r.CreatedByUserID != nil && *r.CreatedByUserID == userID {
		noSelf, err := project.NoSelfApproval(ctx, s.store, r.ProjectID)
		if err != nil {
			return nil, err
		}
		if noSelf {
			return nil, apperr.Forbidden("this project does not let the creator of an approval decide it")
		}
	}
	if _, err := s.execute(ctx, r, action, Decider{Via: ViaDashboard, UserID: &userID}, comment, now); err != nil {
		return nil, err
	}
	return s.current(ctx, id, now)
}

// SlackUser is the Slack user who clicked a button, as Slack's verified
// request names them.
type SlackUser struct {
	ID   string
	Name string
}

// DecideInSlack executes a PENDING approval of projectID for a click on
// one of its buttons in Slack. The caller has verified the request's
// signature with the signing secret of a channel of projectID and checked
// the channel's allowed users; the rest is the link's rule. It returns the
// approval as it is afterwards, also when the click lost (a *ClosedError
// then says why).
func (s *Service) DecideInSlack(ctx context.Context, projectID, id, actionKey string, who SlackUser, comment *string) (*Approval, error) {
	if err := apperr.CheckTexts("approval", id, "action", actionKey, "user", who.ID, "userName", who.Name); err != nil {
		return nil, err
	}
	comment, err := checkComment(comment)
	if err != nil {
		return nil, err
	}
	r, err := s.load(ctx, byID, id)
	if err != nil {
		return nil, err
	}
	if r.ProjectID != projectID {
		return nil, apperr.NotFound("approval")
	}
	now := s.now()
	if err := s.checkOpen(ctx, r, now); err != nil {
		return nil, err
	}
	action, err := r.action(actionKey)
	if err != nil {
		return nil, err
	}
	if r.PinHash != nil {
		return nil, errPINNeeded
	}
	decider := Decider{Via: ViaSlack, SlackUserID: &who.ID}
	if who.Name != "" {
		decider.SlackUserName = &who.Name
	}
	if _, err := s.execute(ctx, r, action, decider, comment, now); err != nil {
		return nil, err
	}
	return s.current(ctx, id, now)
}

// Current returns an approval of projectID as it is now, with no
// authorization: for a caller that verified its right otherwise (a signed
// Slack request).
func (s *Service) Current(ctx context.Context, projectID, id string) (*Approval, error) {
	a, err := s.current(ctx, id, s.now())
	if err != nil {
		return nil, err
	}
	if a.ProjectID != projectID {
		return nil, apperr.NotFound("approval")
	}
	return a, nil
}

func (s *Service) current(ctx context.Context, id string, now time.Time) (*Approval, error) {
	r, err := s.load(ctx, byID, id)
	if err != nil {
		return nil, err
	}
	a, err := r.approval(now)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// action finds one of the approval's actions by key, BAD_USER_INPUT when
// it has none of that key.
func (r *row) action(key string) (Action, error) {
	actions, err := r.actions()
	if err != nil {
		return Action{}, err
	}
	action, ok := findAction(actions, key)
	if !ok {
		return Action{}, apperr.Invalid("action", "%q is not one of this approval's actions", key)
	}
	return action, nil
}
