// Package project owns projects, their members and API keys, and every
// authorization decision: which principal may do what in which project.
package project

import (
	"context"
	"fmt"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/store"
)

// Role is a member's role in a project.
type Role string

const (
	RoleOwner  Role = "OWNER"
	RoleAdmin  Role = "ADMIN"
	RoleMember Role = "MEMBER"
	RoleViewer Role = "VIEWER"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	return r == RoleOwner || r == RoleAdmin || r == RoleMember || r == RoleViewer
}

// Action is something a principal may want to do in a project.
type Action string

const (
	// Read is seeing the project (id, name, the caller's role) and its
	// data: keys, approvals and events. It is all a READ key may do.
	Read Action = "read"
	// ReadSettings is seeing who and what is wired to a project: members
	// and their e-mails, API keys, Slack channels and deliveries, the
	// approval rules. A READ key is a script's credential for values, so
	// it sees none of this.
	ReadSettings  Action = "read-settings"
	Rename        Action = "rename"         // rename the project
	Delete        Action = "delete"         // delete the project
	ManageMembers Action = "manage-members" // add and remove non-owner members
	ManageOwners  Action = "manage-owners"  // make or remove owners
	ManageAPIKeys Action = "manage-api-keys"
	WriteData     Action = "write-data" // set keys, create and invalidate approvals
	ManageSlack   Action = "manage-slack"
	// Decide is deciding an approval from the dashboard (decideApproval):
	// people only, since a key would let a script approve its own request.
	Decide Action = "decide"
	// SetApprovalRules is changing how a project's approvals may be
	// decided (no self-approval).
	SetApprovalRules Action = "set-approval-rules"
	// ManageSettings changes the project's settings: timely expiry and
	// reminders (Settings).
	ManageSettings Action = "manage-settings"
)

// grant says who may take an action.
type grant struct {
	roles    []Role
	writeKey bool
	readKey  bool
}

// Permissions is the whole authorization table. OWNER may do everything;
// ADMIN everything but deleting the project and changing owners; MEMBER works
// with keys and approvals and decides them; VIEWER reads. WRITE keys may
// write data and manage Slack channels, but never decide; READ keys only
// read keys, approvals and events. Settings are OWNER's and ADMIN's.
var Permissions = map[Action]grant{
	Read:             {roles: []Role{RoleOwner, RoleAdmin, RoleMember, RoleViewer}, writeKey: true, readKey: true},
	ReadSettings:     {roles: []Role{RoleOwner, RoleAdmin, RoleMember, RoleViewer}, writeKey: true},
	Rename:           {roles: []Role{RoleOwner, RoleAdmin}},
	Delete:           {roles: []Role{RoleOwner}},
	ManageMembers:    {roles: []Role{RoleOwner, RoleAdmin}},
	ManageOwners:     {roles: []Role{RoleOwner}},
	ManageAPIKeys:    {roles: []Role{RoleOwner, RoleAdmin}},
	WriteData:        {roles: []Role{RoleOwner, RoleAdmin, RoleMember}, writeKey: true},
	ManageSlack:      {roles: []Role{RoleOwner, RoleAdmin}, writeKey: true},
	Decide:           {roles: []Role{RoleOwner, RoleAdmin, RoleMember}},
	SetApprovalRules: {roles: []Role{RoleOwner, RoleAdmin}},
	ManageSettings:   {roles: []Role{RoleOwner, RoleAdmin}},
}

// Allows reports whether a member of role may take action.
func Allows(role Role, action Action) bool {
	for _, r := range Permissions[action].roles {
		if r == role {
			return true
		}
	}
	return false
}

// AllowsKey reports whether an API key of scope may take action.
func AllowsKey(scope auth.Scope, action Action) bool {
	g := Permissions[action]
	return (scope == auth.ScopeWrite && g.writeKey) || (scope == auth.ScopeRead && g.readKey)
}

// Access is what Authorize found out about the caller.
type Access struct {
	Principal *auth.Principal
	Role      Role // for an API key: MEMBER for WRITE, VIEWER for READ
}

// Authorizer makes every authorization decision.
type Authorizer struct{ store *store.Store }

// NewAuthorizer returns the authorizer.
func NewAuthorizer(s *store.Store) *Authorizer { return &Authorizer{store: s} }

// Authorize checks that the caller may take action in project projectID.
// A project the caller cannot see answers NOT_FOUND, never FORBIDDEN, so that
// its existence is not confirmed; FORBIDDEN means "visible, but not allowed".
func (a *Authorizer) Authorize(ctx context.Context, projectID string, action Action) (*Access, error) {
	if err := apperr.CheckTexts("projectId", projectID); err != nil {
		return nil, err
	}
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	if k := p.APIKey; k != nil {
		if k.ProjectID != projectID {
			return nil, apperr.NotFound("project")
		}
		if !AllowsKey(k.Scope, action) {
			return nil, apperr.Forbidden(fmt.Sprintf("a %s API key may not do this", k.Scope))
		}
		role := RoleViewer
		if k.Scope == auth.ScopeWrite {
			role = RoleMember
		}
		return &Access{Principal: p, Role: role}, nil
	}
	m, err := a.membership(ctx, projectID, p.UserID)
	if store.IsNotFound(err) {
		return nil, apperr.NotFound("project")
	}
	if err != nil {
		return nil, fmt.Errorf("load membership in %s: %w", projectID, err)
	}
	if !Allows(m.Role, action) {
		return nil, apperr.Forbidden(fmt.Sprintf("the %s role may not do this", m.Role))
	}
	return &Access{Principal: p, Role: m.Role}, nil
}

// KeyProject is the project of the API key that makes the request: a
// script's key belongs to one project, so the REST API implies it. A
// signed-in user names projects explicitly, through GraphQL, and is
// refused here with FORBIDDEN.
func KeyProject(ctx context.Context) (string, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return "", err
	}
	if p.APIKey == nil {
		return "", apperr.Forbidden("this endpoint takes a project API key (otw_… or otr_…), not a user's access token")
	}
	return p.APIKey.ProjectID, nil
}
