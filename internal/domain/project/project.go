package project

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm/clause"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/page"
	"github.com/ottr/backend/internal/platform/store"
)

// Project is a tenant: members, API keys, keys, approvals and channels all
// belong to one.
type Project struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// Member is a user's role in a project.
type Member struct {
	ProjectID string
	UserID    string
	Role      Role
	AddedAt   time.Time
}

// TableName pins the table name.
func (Member) TableName() string { return "project_members" }

// Service manages projects, members and API keys.
type Service struct {
	store *store.Store
	authz *Authorizer
	// onDeadlineOptIn runs after an update that turns a deadline option on.
	onDeadlineOptIn func()
	// onKeysChanged runs after a key is revoked (keyID set) or a project
	// deleted (projectID set), so that the instance stops trusting what it
	// remembers of them.
	onKeysChanged func(keyID, projectID string)
}

// OnKeysChanged registers f, run after a key is revoked or a project
// deleted on this instance.
func (s *Service) OnKeysChanged(f func(keyID, projectID string)) { s.onKeysChanged = f }

func (s *Service) keysChanged(keyID, projectID string) {
	if s.onKeysChanged != nil {
		s.onKeysChanged(keyID, projectID)
	}
}

// NewService returns the project service.
func NewService(s *store.Store, authz *Authorizer) *Service { return &Service{store: s, authz: authz} }

func validateName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n < 1 || n > 100 {
		return "", apperr.Invalid("name", "project name must be 1 to 100 characters")
	}
	return name, nil
}

// Create makes a project whose creator is its OWNER.
func (s *Service) Create(ctx context.Context, name string) (*Project, error) {
	defer forgetAccess(ctx) // the memberships this changes
	if err := apperr.CheckTexts("name", name); err != nil {
		return nil, err
	}
	userID, err := auth.RequireUser(ctx)
	if err != nil {
		return nil, err
	}
	if name, err = validateName(name); err != nil {
		return nil, err
	}
	p := Project{ID: store.NewID(), Name: name, CreatedAt: store.Now()}
	err = s.store.WithTx(ctx, func(ctx context.Context) error {
		db := s.store.DB(ctx)
		if err := db.Create(&p).Error; err != nil {
			return fmt.Errorf("create project: %w", err)
		}
		m := Member{ProjectID: p.ID, UserID: userID, Role: RoleOwner, AddedAt: p.CreatedAt}
		if err := db.Create(&m).Error; err != nil {
			return fmt.Errorf("add owner: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// Get returns a project the caller can read.
func (s *Service) Get(ctx context.Context, id string) (*Project, error) {
	if err := apperr.CheckTexts("id", id); err != nil {
		return nil, err
	}
	if _, err := s.authz.Authorize(ctx, id, Read); err != nil {
		return nil, err
	}
	return s.load(ctx, id)
}

// projectByID reads a project without GORM's statement building and
// reflection: every dashboard page reads its project.
var projectByID = store.NewQuery(`SELECT id, name, created_at FROM projects WHERE id = ?`)

func (s *Service) load(ctx context.Context, id string) (*Project, error) {
	var p Project
	if err := s.store.QueryRow(ctx, projectByID, id).Scan(&p.ID, &p.Name, &p.CreatedAt); err != nil {
		if store.IsNotFound(err) {
			return nil, apperr.NotFound("project")
		}
		return nil, fmt.Errorf("load project %s: %w", id, err)
	}
	return &p, nil
}

// List returns the caller's projects, oldest first: a user's memberships,
// or an API key's own project.
func (s *Service) List(ctx context.Context) ([]Project, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	var out []Project
	q := s.store.DB(ctx).Model(&Project{}).Order("projects.created_at, projects.id")
	if p.APIKey != nil {
		q = q.Where("projects.id = ?", p.APIKey.ProjectID)
	} else {
		q = q.Joins("JOIN project_members m ON m.project_id = projects.id AND m.user_id = ?", p.UserID)
	}
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return out, nil
}

// ListPage is List, one page at a time.
func (s *Service) ListPage(ctx context.Context, args page.Args) (page.Page[Project], error) {
	w, err := args.Window(page.MaxSize, 1)
	if err != nil {
		return page.Page[Project]{}, err
	}
	all, err := s.List(ctx)
	if err != nil {
		return page.Page[Project]{}, err
	}
	return page.Slice(all, w, func(p Project) string { return page.TimeKey(p.CreatedAt, p.ID) }), nil
}

// Rename changes a project's name.
func (s *Service) Rename(ctx context.Context, id, name string) (*Project, error) {
	if err := apperr.CheckTexts("id", id, "name", name); err != nil {
		return nil, err
	}
	if _, err := s.authz.Authorize(ctx, id, Rename); err != nil {
		return nil, err
	}
	name, err := validateName(name)
	if err != nil {
		return nil, err
	}
	res := s.store.DB(ctx).Model(&Project{}).Where("id = ?", id).Update("name", name)
	if res.Error != nil {
		return nil, fmt.Errorf("rename project %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, apperr.NotFound("project")
	}
	return s.load(ctx, id)
}

// deliveryTables are the tables of each kind of delivery with those of
// their channels (Slack channels, webhook endpoints, approvals with a
// callback). Delete removes a project's deliveries, each with its
// attempts, before the cascade reaches their channels: the worker settles
// a delivery, then its channel, so the cascade's order (channel, then
// delivery) would wait for a settle that waits for it.
var deliveryTables = []struct{ deliveries, channels string }{
	{"deliveries", "slack_channels"},
	{"webhook_deliveries", "webhook_endpoints"},
	{"callback_deliveries", "approvals"},
}

// deleteDeliveries removes a project's deliveries of every kind in ctx's
// transaction (DeleteDeliveries, in event order).
func (s *Service) deleteDeliveries(ctx context.Context, id string) error {
	for _, t := range deliveryTables {
		if err := DeleteDeliveries(ctx, s.store, t.deliveries, "channel_id IN (SELECT id FROM "+t.channels+" WHERE project_id = ?)", id); err != nil {
			return fmt.Errorf("project %s: %w", id, err)
		}
	}
	return nil
}

// Delete removes a project and everything in it.
func (s *Service) Delete(ctx context.Context, id string) error {
	defer forgetAccess(ctx) // the memberships this changes
	if err := apperr.CheckTexts("id", id); err != nil {
		return err
	}
	if _, err := s.authz.Authorize(ctx, id, Delete); err != nil {
		return err
	}
	// The lock order of lock.go: the project's row, the deliveries of its
	// channels (with their attempts), then the rest through the cascade.
	// Of concurrent deletes, the one that removed the row succeeds; the
	// others find none.
	defer s.keysChanged("", id)
	return s.store.WithTx(ctx, func(ctx context.Context) error {
		db := s.store.DB(ctx)
		err := db.Clauses(clause.Locking{Strength: "UPDATE"}).Select("id").Where("id = ?", id).Take(&Project{}).Error
		if store.IsNotFound(err) {
			return apperr.NotFound("project")
		}
		if err != nil {
			return fmt.Errorf("lock project %s: %w", id, err)
		}
		if err := s.deleteDeliveries(ctx, id); err != nil {
			return err
		}
		res := db.Where("id = ?", id).Delete(&Project{})
		if res.Error != nil {
			return fmt.Errorf("delete project %s: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return apperr.NotFound("project")
		}
		return nil
	})
}

// MyRole is the caller's role in a project.
func (s *Service) MyRole(ctx context.Context, id string) (Role, error) {
	if err := apperr.CheckTexts("id", id); err != nil {
		return "", err
	}
	acc, err := s.authz.Authorize(ctx, id, Read)
	if err != nil {
		return "", err
	}
	return acc.Role, nil
}

// MemberWithUser is a member together with the user's account.
type MemberWithUser struct {
	Member
	User auth.User
}

// Members lists a project's members, owners first.
func (s *Service) Members(ctx context.Context, projectID string) ([]MemberWithUser, error) {
	if err := apperr.CheckTexts("projectId", projectID); err != nil {
		return nil, err
	}
	if _, err := s.authz.Authorize(ctx, projectID, ReadSettings); err != nil {
		return nil, err
	}
	var members []Member
	if err := s.store.DB(ctx).Where("project_id = ?", projectID).Order("added_at, user_id").Find(&members).Error; err != nil {
		return nil, fmt.Errorf("list members of %s: %w", projectID, err)
	}
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.UserID
	}
	var users []auth.User
	if err := s.store.DB(ctx).Where("id IN ?", ids).Find(&users).Error; err != nil {
		return nil, fmt.Errorf("load members of %s: %w", projectID, err)
	}
	byID := make(map[string]auth.User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	out := make([]MemberWithUser, 0, len(members))
	for _, rank := range []Role{RoleOwner, RoleAdmin, RoleMember, RoleViewer} {
		for _, m := range members {
			if m.Role == rank {
				out = append(out, MemberWithUser{Member: m, User: byID[m.UserID]})
			}
		}
	}
	return out, nil
}

// MayReadPeople refuses a caller who may read a project but not who is in
// it: a READ key. Every member role may, so for a field of an object
// already read from the project it needs no query.
func MayReadPeople(ctx context.Context) error {
	p, err := auth.Require(ctx)
	if err != nil {
		return err
	}
	if k := p.APIKey; k != nil && !AllowsKey(k.Scope, ReadSettings) {
		return apperr.Forbidden(fmt.Sprintf("a %s API key may not do this", k.Scope))
	}
	return nil
}

// Person returns the account of a user named by something in a project,
// such as an approval's decider, for a caller who may read the project's
// settings: an e-mail address is not a value a READ key may read.
// NOT_FOUND when the account no longer exists.
func (s *Service) Person(ctx context.Context, projectID, userID string) (*auth.User, error) {
	if _, err := s.authz.Authorize(ctx, projectID, ReadSettings); err != nil {
		return nil, err
	}
	var u auth.User
	if err := s.store.DB(ctx).Where("id = ?", userID).Take(&u).Error; err != nil {
		if store.IsNotFound(err) {
			return nil, apperr.NotFound("user")
		}
		return nil, fmt.Errorf("load user %s: %w", userID, err)
	}
	return &u, nil
}

// MembersPage is Members, one page at a time.
func (s *Service) MembersPage(ctx context.Context, projectID string, args page.Args) (page.Page[MemberWithUser], error) {
	w, err := args.Window(page.MaxSize, 1)
	if err != nil {
		return page.Page[MemberWithUser]{}, err
	}
	all, err := s.Members(ctx, projectID)
	if err != nil {
		return page.Page[MemberWithUser]{}, err
	}
	return page.Slice(all, w, func(m MemberWithUser) string {
		return strconv.Itoa(m.Role.rank()) + ":" + page.TimeKey(m.AddedAt, m.UserID)
	}), nil
}

// rank is the role's place in the list of members: owners first.
func (r Role) rank() int {
	for i, role := range []Role{RoleOwner, RoleAdmin, RoleMember, RoleViewer} {
		if r == role {
			return i
		}
	}
	return 9
}

// AddMember gives an existing user a role in the project. Only owners make
// owners.
func (s *Service) AddMember(ctx context.Context, projectID, email string, role Role) (*MemberWithUser, error) {
	defer forgetAccess(ctx) // the memberships this changes
	if err := apperr.CheckTexts("projectId", projectID, "email", email); err != nil {
		return nil, err
	}
	action := ManageMembers
	if role == RoleOwner {
		action = ManageOwners
	}
	if _, err := s.authz.Authorize(ctx, projectID, action); err != nil {
		return nil, err
	}
	if !role.Valid() {
		return nil, apperr.Invalid("role", "unknown role %q", role)
	}
	var user auth.User
	err := s.store.DB(ctx).Where("email = ?", auth.NormalizeEmail(email)).Take(&user).Error
	if store.IsNotFound(err) {
		return nil, apperr.Invalid("email", "no account uses this e-mail address; ask them to sign up first")
	}
	if err != nil {
		return nil, fmt.Errorf("find user by e-mail: %w", err)
	}
	m := Member{ProjectID: projectID, UserID: user.ID, Role: role, AddedAt: store.Now()}
	if err := s.store.DB(ctx).Create(&m).Error; err != nil {
		if store.IsDuplicate(err) {
			return nil, apperr.Conflict("this user is already a member of the project")
		}
		return nil, fmt.Errorf("add member: %w", err)
	}
	return &MemberWithUser{Member: m, User: user}, nil
}

// RemoveMember takes a user out of a project. Anyone may leave; removing
// someone else needs ManageMembers (ManageOwners for an owner); the last
// owner stays.
func (s *Service) RemoveMember(ctx context.Context, projectID, userID string) error {
	defer forgetAccess(ctx) // the memberships this changes
	if err := apperr.CheckTexts("projectId", projectID, "userId", userID); err != nil {
		return err
	}
	if _, err := s.authz.Authorize(ctx, projectID, Read); err != nil {
		return err
	}
	return s.store.WithTx(ctx, func(ctx context.Context) error {
		db := s.store.DB(ctx)
		// Owner removals of one project take turns on the project row:
		// otherwise two owners removing each other at once would both count
		// two owners and leave none. NO KEY UPDATE lets writers (KEY SHARE,
		// see lock.go) go on meanwhile. (SQLite's write lock already
		// serializes.)
		if err := db.Clauses(clause.Locking{Strength: "NO KEY UPDATE"}).Where("id = ?", projectID).Take(&Project{}).Error; err != nil {
			if store.IsNotFound(err) {
				return apperr.NotFound("project")
			}
			return fmt.Errorf("lock project %s: %w", projectID, err)
		}
		var target Member
		err := db.Where("project_id = ? AND user_id = ?", projectID, userID).Take(&target).Error
		if store.IsNotFound(err) {
			return apperr.NotFound("member")
		}
		if err != nil {
			return fmt.Errorf("load member: %w", err)
		}
		p, _ := auth.Require(ctx)
		if p.APIKey != nil || p.UserID != userID {
			action := ManageMembers
			if target.Role == RoleOwner {
				action = ManageOwners
			}
			if _, err := s.authz.Authorize(ctx, projectID, action); err != nil {
				return err
			}
		}
		if target.Role == RoleOwner {
			var owners int64
			if err := db.Model(&Member{}).Where("project_id = ? AND role = ?", projectID, RoleOwner).Count(&owners).Error; err != nil {
				return fmt.Errorf("count owners: %w", err)
			}
			if owners <= 1 {
				return apperr.Conflict("a project keeps at least one owner; add another owner first, or delete the project")
			}
		}
		res := db.Where("project_id = ? AND user_id = ?", projectID, userID).Delete(&Member{})
		if res.Error != nil {
			return fmt.Errorf("remove member: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return apperr.NotFound("member")
		}
		return nil
	})
}

// IsMember reports whether a user is still a member of a project; live
// subscriptions recheck it.
func (s *Service) IsMember(ctx context.Context, projectID, userID string) (bool, error) {
	if err := apperr.CheckTexts("projectId", projectID, "userId", userID); err != nil {
		return false, err
	}
	var n int64
	err := s.store.DB(ctx).Model(&Member{}).Where("project_id = ? AND user_id = ?", projectID, userID).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("check membership: %w", err)
	}
	return n == 1, nil
}
