package project_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// The project service's authorization and membership rules, called
// directly on both databases.

// domain is one database with the project and auth services over it.
type domain struct {
	t     *testing.T
	st    *store.Store
	svc   *project.Service
	authz *project.Authorizer
	auth  *auth.Service
	seq   int
}

func newDomain(t *testing.T, d store.Dialect) *domain {
	st := storetest.Open(t, d)
	authz := project.NewAuthorizer(st)
	return &domain{t: t, st: st, svc: project.NewService(st, authz), authz: authz,
		auth: auth.NewService(st, auth.NewTokens([]byte("a-test-secret-of-thirty-two-bytes!")), nil)}
}

// user adds an account (its password is never checked here) and returns it
// with a context that acts as it.
func (d *domain) user(name string) (auth.User, context.Context) {
	d.t.Helper()
	d.seq++
	u := auth.User{ID: store.NewID(), Email: strings.ToLower(fmt.Sprintf("%s.%d@example.com", name, d.seq)), Name: name,
		PasswordHash: "unused", CreatedAt: store.Now()}
	storetest.Must(d.t, d.st.DB(context.Background()).Create(&u).Error)
	return u, as(u)
}

func as(u auth.User) context.Context {
	return auth.WithPrincipal(context.Background(), &auth.Principal{UserID: u.ID}, nil)
}

// key creates an API key of the project as its owner and returns a context
// that authenticates with it, as a request carrying it would.
func (d *domain) key(owner context.Context, pid string, scope auth.Scope) context.Context {
	d.t.Helper()
	_, secret, err := d.svc.CreateAPIKey(owner, pid, "deploy", scope)
	storetest.Must(d.t, err)
	p, err := d.auth.Authenticate(context.Background(), secret)
	storetest.Must(d.t, err)
	return auth.WithPrincipal(context.Background(), p, nil)
}

func (d *domain) create(owner context.Context, name string) string {
	d.t.Helper()
	p, err := d.svc.Create(owner, name)
	storetest.Must(d.t, err)
	return p.ID
}

func (d *domain) add(owner context.Context, pid string, u auth.User, role project.Role) {
	d.t.Helper()
	_, err := d.svc.AddMember(owner, pid, u.Email, role)
	storetest.Must(d.t, err)
}

func (d *domain) roleOf(pid, userID string) project.Role {
	d.t.Helper()
	var roles []project.Role
	storetest.Must(d.t, d.st.DB(context.Background()).Model(&project.Member{}).
		Where("project_id = ? AND user_id = ?", pid, userID).Pluck("role", &roles).Error)
	if len(roles) == 0 {
		return ""
	}
	return roles[0]
}

func code(err error) string {
	if err == nil {
		return "ok"
	}
	if c := apperr.CodeOf(err); c != "" {
		return string(c)
	}
	return err.Error()
}

// actors are everyone the table is checked for.
var actors = []string{"OWNER", "ADMIN", "MEMBER", "VIEWER", "WRITE key", "READ key"}

// TestAuthorizeEveryActionRoleAndKeyScope checks each action of the table
// for each role and key scope through Authorize, against a membership
// read from the database, with the expectation written out here rather
// than taken from Permissions.
func TestAuthorizeEveryActionRoleAndKeyScope(t *testing.T) {
	t.Parallel()
	// Who may: O(wner) A(dmin) M(ember) V(iewer) W(rite key) R(ead key).
	want := map[project.Action]string{
		project.Read:             "OAMVWR",
		project.ReadSettings:     "OAMVW",
		project.Rename:           "OA",
		project.Delete:           "O",
		project.ManageMembers:    "OA",
		project.ManageOwners:     "O",
		project.ManageAPIKeys:    "OA",
		project.WriteData:        "OAMW",
		project.ManageSlack:      "OAW",
		project.Decide:           "OAM",
		project.SetApprovalRules: "OA",
		project.ManageSettings:   "OA",
	}
	if len(want) != len(project.Permissions) {
		t.Fatalf("Permissions has %d actions, this table %d: add the new action here", len(project.Permissions), len(want))
	}
	letter := map[string]byte{"OWNER": 'O', "ADMIN": 'A', "MEMBER": 'M', "VIEWER": 'V', "WRITE key": 'W', "READ key": 'R'}
	// The role a caller acts with, as Authorize reports it.
	actingRole := map[string]project.Role{"OWNER": project.RoleOwner, "ADMIN": project.RoleAdmin, "MEMBER": project.RoleMember,
		"VIEWER": project.RoleViewer, "WRITE key": project.RoleMember, "READ key": project.RoleViewer}
	storetest.Each(t, func(t *testing.T, dialect store.Dialect) {
		t.Parallel()
		d := newDomain(t, dialect)
		_, owner := d.user("owner")
		pid := d.create(owner, "Table")
		ctxs := map[string]context.Context{"OWNER": owner}
		for _, role := range []project.Role{project.RoleAdmin, project.RoleMember, project.RoleViewer} {
			u, ctx := d.user(string(role))
			d.add(owner, pid, u, role)
			ctxs[string(role)] = ctx
		}
		ctxs["WRITE key"] = d.key(owner, pid, auth.ScopeWrite)
		ctxs["READ key"] = d.key(owner, pid, auth.ScopeRead)

		// Strangers: a user of no membership, and another project's key.
		_, stranger := d.user("stranger")
		_, otherOwner := d.user("other")
		otherKey := d.key(otherOwner, d.create(otherOwner, "Other"), auth.ScopeWrite)

		for action, who := range want {
			for _, actor := range actors {
				acc, err := d.authz.Authorize(ctxs[actor], pid, action)
				allowed := false
				for i := range len(who) {
					allowed = allowed || who[i] == letter[actor]
				}
				switch {
				case allowed && (err != nil || acc.Role != actingRole[actor]):
					t.Errorf("%s as %s: %v (%+v), want allowed as %s", action, actor, err, acc, actingRole[actor])
				case !allowed && apperr.CodeOf(err) != apperr.CodeForbidden:
					t.Errorf("%s as %s: %s, want FORBIDDEN", action, actor, code(err))
				}
			}
			// A project one cannot see is NOT_FOUND, never FORBIDDEN.
			for name, ctx := range map[string]context.Context{"a stranger": stranger, "another project's key": otherKey} {
				if _, err := d.authz.Authorize(ctx, pid, action); apperr.CodeOf(err) != apperr.CodeNotFound {
					t.Errorf("%s by %s: %s, want NOT_FOUND", action, name, code(err))
				}
			}
			if _, err := d.authz.Authorize(owner, store.NewID(), action); apperr.CodeOf(err) != apperr.CodeNotFound {
				t.Errorf("%s of an unknown project: %s, want NOT_FOUND", action, code(err))
			}
			if _, err := d.authz.Authorize(context.Background(), pid, action); apperr.CodeOf(err) != apperr.CodeUnauthenticated {
				t.Errorf("%s without credentials: %s, want UNAUTHENTICATED", action, code(err))
			}
		}
		if _, err := d.authz.Authorize(owner, "pro\x00ject", project.Read); apperr.CodeOf(err) != apperr.CodeBadUserInput {
			t.Errorf("NUL in a project id: %s", code(err))
		}
	})
}

// serviceOp is one operation of the project service, and the action its
// authorization asks for.
type serviceOp struct {
	name   string
	action project.Action
	// run prepares the project as its owner, then calls the operation as
	// the caller; check, when set, verifies the effect of an allowed call.
	run   func(d *domain, owner, caller context.Context, pid string, f *opFixture) error
	check func(t *testing.T, d *domain, pid string, f *opFixture)
}

// opFixture holds the users the member operations act on.
type opFixture struct{ newcomer, viewer, twin auth.User }

var serviceOps = []serviceOp{
	{name: "get", action: project.Read, run: func(d *domain, _, c context.Context, pid string, _ *opFixture) error {
		_, err := d.svc.Get(c, pid)
		return err
	}},
	{name: "my role", action: project.Read, run: func(d *domain, _, c context.Context, pid string, _ *opFixture) error {
		_, err := d.svc.MyRole(c, pid)
		return err
	}},
	{name: "members", action: project.ReadSettings, run: func(d *domain, _, c context.Context, pid string, _ *opFixture) error {
		_, err := d.svc.Members(c, pid)
		return err
	}},
	{name: "API keys", action: project.ReadSettings, run: func(d *domain, _, c context.Context, pid string, _ *opFixture) error {
		_, err := d.svc.APIKeys(c, pid)
		return err
	}},
	{name: "settings", action: project.ReadSettings, run: func(d *domain, _, c context.Context, pid string, _ *opFixture) error {
		_, err := d.svc.Settings(c, pid)
		return err
	}},
	{name: "no-self-approval rule", action: project.ReadSettings, run: func(d *domain, _, c context.Context, pid string, _ *opFixture) error {
		_, err := d.svc.NoSelfApproval(c, pid)
		return err
	}},
	{name: "rename", action: project.Rename,
		run: func(d *domain, _, c context.Context, pid string, _ *opFixture) error {
			_, err := d.svc.Rename(c, pid, "  Renamed ")
			return err
		},
		check: func(t *testing.T, d *domain, pid string, _ *opFixture) {
			var names []string
			storetest.Must(t, d.st.DB(context.Background()).Model(&project.Project{}).Where("id = ?", pid).Pluck("name", &names).Error)
			if len(names) != 1 || names[0] != "Renamed" {
				t.Errorf("name after rename: %q", names)
			}
		}},
	{name: "delete", action: project.Delete,
		run: func(d *domain, _, c context.Context, pid string, _ *opFixture) error { return d.svc.Delete(c, pid) },
		check: func(t *testing.T, d *domain, pid string, _ *opFixture) {
			var n int64
			storetest.Must(t, d.st.DB(context.Background()).Model(&project.Project{}).Where("id = ?", pid).Count(&n).Error)
			if n != 0 {
				t.Error("project still there after delete")
			}
		}},
	{name: "add member", action: project.ManageMembers,
		run: func(d *domain, _, c context.Context, pid string, f *opFixture) error {
			_, err := d.svc.AddMember(c, pid, f.newcomer.Email, project.RoleMember)
			return err
		},
		check: func(t *testing.T, d *domain, pid string, f *opFixture) {
			if r := d.roleOf(pid, f.newcomer.ID); r != project.RoleMember {
				t.Errorf("newcomer's role: %q", r)
			}
		}},
	{name: "add owner", action: project.ManageOwners,
		run: func(d *domain, _, c context.Context, pid string, f *opFixture) error {
			_, err := d.svc.AddMember(c, pid, f.newcomer.Email, project.RoleOwner)
			return err
		},
		check: func(t *testing.T, d *domain, pid string, f *opFixture) {
			if r := d.roleOf(pid, f.newcomer.ID); r != project.RoleOwner {
				t.Errorf("newcomer's role: %q", r)
			}
		}},
	{name: "remove member", action: project.ManageMembers,
		run: func(d *domain, owner, c context.Context, pid string, f *opFixture) error {
			d.add(owner, pid, f.viewer, project.RoleViewer)
			return d.svc.RemoveMember(c, pid, f.viewer.ID)
		},
		check: func(t *testing.T, d *domain, pid string, f *opFixture) {
			if r := d.roleOf(pid, f.viewer.ID); r != "" {
				t.Errorf("removed member still has role %q", r)
			}
		}},
	{name: "remove owner", action: project.ManageOwners,
		run: func(d *domain, owner, c context.Context, pid string, f *opFixture) error {
			d.add(owner, pid, f.twin, project.RoleOwner)
			return d.svc.RemoveMember(c, pid, f.twin.ID)
		},
		check: func(t *testing.T, d *domain, pid string, f *opFixture) {
			if r := d.roleOf(pid, f.twin.ID); r != "" {
				t.Errorf("removed owner still has role %q", r)
			}
		}},
	{name: "create API key", action: project.ManageAPIKeys, run: func(d *domain, _, c context.Context, pid string, _ *opFixture) error {
		_, _, err := d.svc.CreateAPIKey(c, pid, "deploy", auth.ScopeRead)
		return err
	}},
	{name: "revoke API key", action: project.ManageAPIKeys, run: func(d *domain, owner, c context.Context, pid string, _ *opFixture) error {
		k, _, err := d.svc.CreateAPIKey(owner, pid, "deploy", auth.ScopeRead)
		if err != nil {
			return err
		}
		_, err = d.svc.RevokeAPIKey(c, k.ID)
		return err
	}},
	{name: "set no-self-approval", action: project.SetApprovalRules,
		run: func(d *domain, _, c context.Context, pid string, _ *opFixture) error {
			_, err := d.svc.SetNoSelfApproval(c, pid, true)
			return err
		},
		check: func(t *testing.T, d *domain, pid string, _ *opFixture) {
			if on, err := project.NoSelfApproval(context.Background(), d.st, pid); err != nil || !on {
				t.Errorf("no-self-approval after setting it: %v %v", on, err)
			}
		}},
	{name: "update settings", action: project.ManageSettings, run: func(d *domain, _, c context.Context, pid string, _ *opFixture) error {
		on := true
		_, err := d.svc.UpdateSettings(c, pid, project.SettingsUpdate{SetExpireOnTime: true, ExpireOnTime: &on})
		return err
	}},
}

// TestEveryServiceOperationAsksTheTable calls each operation of the
// service as each role and key scope, each on a project of its own: the
// answer is what the table says for the operation's action, FORBIDDEN when
// it says no, and an allowed call has its effect.
func TestEveryServiceOperationAsksTheTable(t *testing.T) {
	t.Parallel()
	covered := map[project.Action]bool{}
	for _, op := range serviceOps {
		covered[op.action] = true
	}
	for a := range project.Permissions {
		if !covered[a] && a != project.WriteData && a != project.ManageSlack && a != project.Decide {
			t.Fatalf("no operation of the project service exercises %s", a)
		}
	}
	storetest.Each(t, func(t *testing.T, dialect store.Dialect) {
		t.Parallel()
		d := newDomain(t, dialect)
		_, owner := d.user("owner")
		var f opFixture
		f.newcomer, _ = d.user("newcomer")
		f.viewer, _ = d.user("viewer")
		f.twin, _ = d.user("twin")
		people := map[project.Role]auth.User{}
		for _, role := range []project.Role{project.RoleAdmin, project.RoleMember, project.RoleViewer} {
			people[role], _ = d.user(string(role))
		}
		for _, op := range serviceOps {
			for _, actor := range actors {
				pid := d.create(owner, op.name+" as "+actor)
				var caller context.Context
				var allowed bool
				switch actor {
				case "OWNER":
					caller, allowed = owner, project.Allows(project.RoleOwner, op.action)
				case "WRITE key", "READ key":
					scope := auth.ScopeWrite
					if actor == "READ key" {
						scope = auth.ScopeRead
					}
					caller, allowed = d.key(owner, pid, scope), project.AllowsKey(scope, op.action)
				default:
					role := project.Role(actor)
					d.add(owner, pid, people[role], role)
					caller, allowed = as(people[role]), project.Allows(role, op.action)
				}
				err := op.run(d, owner, caller, pid, &f)
				switch {
				case allowed && err != nil:
					t.Errorf("%s as %s: %v, want allowed", op.name, actor, err)
				case !allowed && apperr.CodeOf(err) != apperr.CodeForbidden:
					t.Errorf("%s as %s: %s, want FORBIDDEN", op.name, actor, code(err))
				case allowed && op.check != nil:
					op.check(t, d, pid, &f)
				}
			}
		}
	})
}

// TestMembershipRules: the last owner stays, anyone may leave, owners are
// made and removed by owners only, and member input is checked.
func TestMembershipRules(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, dialect store.Dialect) {
		t.Parallel()
		d := newDomain(t, dialect)
		olivia, owner := d.user("olivia")
		admin, adminCtx := d.user("admin")
		viewer, viewerCtx := d.user("viewer")
		twin, twinCtx := d.user("twin")
		pid := d.create(owner, "Members")
		d.add(owner, pid, admin, project.RoleAdmin)
		write := d.key(owner, pid, auth.ScopeWrite)

		steps := []struct {
			name string
			do   func() error
			want string
		}{
			{"the only owner leaves", func() error { return d.svc.RemoveMember(owner, pid, olivia.ID) }, "CONFLICT"},
			{"an admin removes the owner", func() error { return d.svc.RemoveMember(adminCtx, pid, olivia.ID) }, "FORBIDDEN"},
			{"an admin makes an owner", func() error {
				_, err := d.svc.AddMember(adminCtx, pid, twin.Email, project.RoleOwner)
				return err
			}, "FORBIDDEN"},
			{"an admin adds a viewer, by e-mail in another case", func() error {
				_, err := d.svc.AddMember(adminCtx, pid, "  "+strings.ToUpper(viewer.Email)+" ", project.RoleViewer)
				return err
			}, "ok"},
			{"the viewer is added again", func() error {
				_, err := d.svc.AddMember(owner, pid, viewer.Email, project.RoleAdmin)
				return err
			}, "CONFLICT"},
			{"an e-mail without an account", func() error {
				_, err := d.svc.AddMember(owner, pid, "nobody@example.com", project.RoleMember)
				return err
			}, "BAD_USER_INPUT"},
			{"an unknown role", func() error {
				_, err := d.svc.AddMember(owner, pid, twin.Email, "SUPERUSER")
				return err
			}, "BAD_USER_INPUT"},
			{"NUL in the e-mail", func() error {
				_, err := d.svc.AddMember(owner, pid, "twin\x00@example.com", project.RoleMember)
				return err
			}, "BAD_USER_INPUT"},
			{"a WRITE key adds a member", func() error {
				_, err := d.svc.AddMember(write, pid, twin.Email, project.RoleMember)
				return err
			}, "FORBIDDEN"},
			{"the viewer removes the admin", func() error { return d.svc.RemoveMember(viewerCtx, pid, admin.ID) }, "FORBIDDEN"},
			{"the viewer leaves", func() error { return d.svc.RemoveMember(viewerCtx, pid, viewer.ID) }, "ok"},
			{"the viewer leaves again", func() error { return d.svc.RemoveMember(viewerCtx, pid, viewer.ID) }, "NOT_FOUND"},
			{"someone who never was a member is removed", func() error { return d.svc.RemoveMember(owner, pid, twin.ID) }, "NOT_FOUND"},
			{"the owner makes a second owner", func() error {
				_, err := d.svc.AddMember(owner, pid, twin.Email, project.RoleOwner)
				return err
			}, "ok"},
			{"the first owner leaves", func() error { return d.svc.RemoveMember(owner, pid, olivia.ID) }, "ok"},
			{"the second, now last, owner leaves", func() error { return d.svc.RemoveMember(twinCtx, pid, twin.ID) }, "CONFLICT"},
			{"the admin leaves", func() error { return d.svc.RemoveMember(adminCtx, pid, admin.ID) }, "ok"},
			{"the former owner reads the project", func() error {
				_, err := d.svc.Get(owner, pid)
				return err
			}, "NOT_FOUND"},
		}
		for _, s := range steps {
			if got := code(s.do()); got != s.want {
				t.Fatalf("%s: %s, want %s", s.name, got, s.want)
			}
		}
		// A refused member names the field to correct.
		_, err := d.svc.AddMember(twinCtx, pid, "nobody@example.com", project.RoleMember)
		if e, ok := apperr.As(err); !ok || e.Field != "email" {
			t.Errorf("an e-mail without an account: %#v, want field email", err)
		}
		members, err := d.svc.Members(twinCtx, pid)
		storetest.Must(t, err)
		if len(members) != 1 || members[0].UserID != twin.ID || members[0].Role != project.RoleOwner {
			t.Fatalf("members at the end: %+v", members)
		}
	})
}

// Two owners removing each other at the same moment: one wins, one owner
// stays.
func TestOwnersRemovingEachOtherLeaveOne(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, dialect store.Dialect) {
		t.Parallel()
		d := newDomain(t, dialect)
		a, actx := d.user("a")
		b, bctx := d.user("b")
		for round := range 10 {
			pid := d.create(actx, fmt.Sprint("round ", round))
			d.add(actx, pid, b, project.RoleOwner)
			start := make(chan struct{})
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i, call := range []func() error{
				func() error { return d.svc.RemoveMember(actx, pid, b.ID) },
				func() error { return d.svc.RemoveMember(bctx, pid, a.ID) },
			} {
				wg.Go(func() {
					<-start
					errs[i] = call()
				})
			}
			close(start)
			wg.Wait()
			var owners int64
			storetest.Must(t, d.st.DB(context.Background()).Model(&project.Member{}).
				Where("project_id = ? AND role = ?", pid, project.RoleOwner).Count(&owners).Error)
			if owners != 1 {
				t.Fatalf("round %d: %d owners left (%v, %v)", round, owners, errs[0], errs[1])
			}
		}
	})
}

// Get reads back the project as Create made it, on both databases.
func TestGetReadsTheProjectAsCreated(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, dialect store.Dialect) {
		d := newDomain(t, dialect)
		_, owner := d.user("Ada")
		made, err := d.svc.Create(owner, "Payments ✓")
		storetest.Must(t, err)
		got, err := d.svc.Get(owner, made.ID)
		storetest.Must(t, err)
		if got.ID != made.ID || got.Name != made.Name || !got.CreatedAt.Equal(made.CreatedAt) {
			t.Fatalf("Get: %+v, Create made %+v", got, made)
		}
		if _, err := d.svc.Get(owner, store.NewID()); apperr.CodeOf(err) != apperr.CodeNotFound {
			t.Fatalf("Get of a missing project: %v, want NOT_FOUND", err)
		}
	})
}
