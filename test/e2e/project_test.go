package e2e_test

import (
	"fmt"
	"testing"

	"github.com/ottr/backend/internal/domain/auth"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// projectOp is one project operation as a client calls it. setup prepares
// the project (as its owner) and returns the operation's variables.
type projectOp struct {
	name   string
	action project.Action
	query  string
	setup  func(f *projectFixture, pid string) map[string]any
	// check, when set, verifies the effect of an allowed call (as the owner).
	check func(t *testing.T, f *projectFixture, pid string, vars map[string]any)
}

// projectFixture holds the users every case needs: an owner who sets the
// project up, and target users for the member operations.
type projectFixture struct {
	srv                    *testserver.Server
	owner                  *testserver.User
	newcomer, viewer, twin *testserver.User // added, removed, second owner
}

func newProjectFixture(t *testing.T, d store.Dialect) *projectFixture {
	srv := testserver.Start(t, d)
	return &projectFixture{srv: srv, owner: srv.SignUp("Olivia"), newcomer: srv.SignUp("Nina"), viewer: srv.SignUp("Victor"), twin: srv.SignUp("Oscar")}
}

type memberList struct {
	Project *struct {
		Members []struct {
			Role string
			User struct{ ID string }
		}
	}
}

func (f *projectFixture) roleOf(t *testing.T, pid, userID string) string {
	t.Helper()
	var out memberList
	f.owner.MustDo(`query($id: ID!) { project(id: $id) { members { role user { id } } } }`, map[string]any{"id": pid}, &out)
	if out.Project == nil {
		return ""
	}
	for _, m := range out.Project.Members {
		if m.User.ID == userID {
			return m.Role
		}
	}
	return ""
}

var projectOps = []projectOp{
	{
		name: "read", action: project.Read,
		query: `query($id: ID!) { project(id: $id) { id name myRole keys { edges { cursor } } } projects { id } }`,
		setup: func(_ *projectFixture, pid string) map[string]any { return map[string]any{"id": pid} },
	},
	{
		name: "read settings", action: project.ReadSettings,
		query: `query($id: ID!) { project(id: $id) { id members { role } apiKeys { id } slackChannels { id } noSelfApproval } }`,
		setup: func(_ *projectFixture, pid string) map[string]any { return map[string]any{"id": pid} },
	},
	{
		name: "rename", action: project.Rename,
		query: `mutation($id: ID!) { renameProject(id: $id, name: "Renamed") { id name } }`,
		setup: func(_ *projectFixture, pid string) map[string]any { return map[string]any{"id": pid} },
		check: func(t *testing.T, f *projectFixture, pid string, _ map[string]any) {
			var out struct{ Project struct{ Name string } }
			f.owner.MustDo(`query($id: ID!) { project(id: $id) { name } }`, map[string]any{"id": pid}, &out)
			if out.Project.Name != "Renamed" {
				t.Errorf("name after rename: %q", out.Project.Name)
			}
		},
	},
	{
		name: "delete", action: project.Delete,
		query: `mutation($id: ID!) { deleteProject(id: $id) }`,
		setup: func(_ *projectFixture, pid string) map[string]any { return map[string]any{"id": pid} },
		check: func(t *testing.T, f *projectFixture, pid string, _ map[string]any) {
			var out struct{ Project *struct{ ID string } }
			f.owner.MustDo(`query($id: ID!) { project(id: $id) { id } }`, map[string]any{"id": pid}, &out)
			if out.Project != nil {
				t.Error("project still there after delete")
			}
		},
	},
	{
		name: "add member", action: project.ManageMembers,
		query: `mutation($p: ID!, $e: String!) { addProjectMember(projectId: $p, email: $e, role: MEMBER) { role user { id } } }`,
		setup: func(f *projectFixture, pid string) map[string]any {
			return map[string]any{"p": pid, "e": f.newcomer.Email}
		},
		check: func(t *testing.T, f *projectFixture, pid string, _ map[string]any) {
			if r := f.roleOf(t, pid, f.newcomer.ID); r != "MEMBER" {
				t.Errorf("newcomer's role: %q", r)
			}
		},
	},
	{
		name: "add owner", action: project.ManageOwners,
		query: `mutation($p: ID!, $e: String!) { addProjectMember(projectId: $p, email: $e, role: OWNER) { role } }`,
		setup: func(f *projectFixture, pid string) map[string]any {
			return map[string]any{"p": pid, "e": f.newcomer.Email}
		},
		check: func(t *testing.T, f *projectFixture, pid string, _ map[string]any) {
			if r := f.roleOf(t, pid, f.newcomer.ID); r != "OWNER" {
				t.Errorf("newcomer's role: %q", r)
			}
		},
	},
	{
		name: "remove member", action: project.ManageMembers,
		query: `mutation($p: ID!, $u: ID!) { removeProjectMember(projectId: $p, userId: $u) }`,
		setup: func(f *projectFixture, pid string) map[string]any {
			f.owner.AddMember(pid, f.viewer.Email, "VIEWER")
			return map[string]any{"p": pid, "u": f.viewer.ID}
		},
		check: func(t *testing.T, f *projectFixture, pid string, _ map[string]any) {
			if r := f.roleOf(t, pid, f.viewer.ID); r != "" {
				t.Errorf("removed member still has role %q", r)
			}
		},
	},
	{
		name: "remove owner", action: project.ManageOwners,
		query: `mutation($p: ID!, $u: ID!) { removeProjectMember(projectId: $p, userId: $u) }`,
		setup: func(f *projectFixture, pid string) map[string]any {
			f.owner.AddMember(pid, f.twin.Email, "OWNER")
			return map[string]any{"p": pid, "u": f.twin.ID}
		},
		check: func(t *testing.T, f *projectFixture, pid string, _ map[string]any) {
			if r := f.roleOf(t, pid, f.twin.ID); r != "" {
				t.Errorf("removed owner still has role %q", r)
			}
		},
	},
	{
		name: "create API key", action: project.ManageAPIKeys,
		query: `mutation($p: ID!) { createApiKey(projectId: $p, input: {name: "deploy", scope: READ}) { secret apiKey { id } } }`,
		setup: func(_ *projectFixture, pid string) map[string]any { return map[string]any{"p": pid} },
	},
	{
		name: "revoke API key", action: project.ManageAPIKeys,
		query: `mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`,
		setup: func(f *projectFixture, pid string) map[string]any {
			id, _ := f.owner.CreateAPIKey(pid, "READ")
			return map[string]any{"id": id}
		},
	},
}

// TestRoleTableForEveryProjectOperation is the contract of the role table
// over GraphQL: every project operation answers as the table says, with
// FORBIDDEN in extensions.code when it says no, for the owner, a viewer and
// a READ key. Every role and key scope against every action and service
// operation is checked in internal/domain/project, without HTTP.
func TestRoleTableForEveryProjectOperation(t *testing.T) {
	t.Parallel()
	covered := map[project.Action]bool{}
	for _, op := range projectOps {
		covered[op.action] = true
	}
	for _, a := range []project.Action{project.Read, project.ReadSettings, project.Rename, project.Delete, project.ManageMembers, project.ManageOwners, project.ManageAPIKeys} {
		if !covered[a] {
			t.Fatalf("no operation exercises %s", a)
		}
	}

	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := newProjectFixture(t, d)
		actors := map[project.Role]*testserver.User{
			project.RoleOwner: f.owner, project.RoleViewer: f.srv.SignUp("Vera"),
		}
		for _, op := range projectOps {
			for _, role := range []project.Role{project.RoleOwner, project.RoleViewer} {
				pid := f.owner.CreateProject(op.name + " as " + string(role))
				if role != project.RoleOwner {
					f.owner.AddMember(pid, actors[role].Email, string(role))
				}
				vars := op.setup(f, pid)
				expect(t, fmt.Sprintf("%s as %s", op.name, role), actors[role].Client, op, vars, project.Allows(role, op.action))
				if op.check != nil && project.Allows(role, op.action) {
					op.check(t, f, pid, vars)
				}
			}
			for _, scope := range []string{"READ"} {
				pid := f.owner.CreateProject(op.name + " with " + scope + " key")
				_, secret := f.owner.CreateAPIKey(pid, scope)
				vars := op.setup(f, pid)
				allowed := project.AllowsKey(auth.Scope(scope), op.action)
				expect(t, fmt.Sprintf("%s with a %s key", op.name, scope), f.srv.Client(secret), op, vars, allowed)
			}
		}
	})
}

func expect(t *testing.T, what string, c *testserver.Client, op projectOp, vars map[string]any, allowed bool) {
	t.Helper()
	r := c.Do(op.query, vars)
	switch {
	case allowed && len(r.Errors) > 0:
		t.Errorf("%s: want allowed, got %+v", what, r.Errors)
	case !allowed && (len(r.Errors) == 0 || r.Errors[0].Code() != "FORBIDDEN"):
		t.Errorf("%s: want FORBIDDEN, got data %s errors %+v", what, r.Data, r.Errors)
	}
}

// Another tenant's project answers NOT_FOUND to everything, as an unknown
// id does: never FORBIDDEN, which would confirm that it exists.
func TestOtherTenantsProjectIsNotFound(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := newProjectFixture(t, d)
		bob := f.srv.SignUp("Bob")
		bobsProject := bob.CreateProject("Bob's")
		_, bobsKey := bob.CreateAPIKey(bobsProject, "WRITE")
		strangers := map[string]*testserver.Client{"another user": bob.Client, "another project's key": f.srv.Client(bobsKey)}

		for _, op := range projectOps {
			pid := f.owner.CreateProject("Olivia's")
			vars := op.setup(f, pid)
			for who, c := range strangers {
				r := c.Do(op.query, vars)
				if op.action == project.Read || op.action == project.ReadSettings {
					// project(id) is a nullable lookup: absent, not an error.
					var out struct{ Project *struct{ ID string } }
					decode(t, r, &out)
					if out.Project != nil {
						t.Errorf("%s read another tenant's project", who)
					}
					continue
				}
				if len(r.Errors) == 0 || r.Errors[0].Code() != "NOT_FOUND" {
					t.Errorf("%s, %s: want NOT_FOUND, got data %s errors %+v", who, op.name, r.Data, r.Errors)
				}
			}
			// And the project is untouched.
			if r := f.roleOf(t, pid, f.owner.ID); r != "OWNER" {
				t.Fatalf("after the strangers' %s, the owner's role is %q", op.name, r)
			}
		}

		// An unknown id answers the same.
		for who, c := range strangers {
			if e := c.ErrorCode(`mutation { renameProject(id: "00000000-0000-7000-8000-000000000000", name: "x") { id } }`, nil); e.Code() != "NOT_FOUND" {
				t.Errorf("%s renaming an unknown project: %s", who, e.Code())
			}
		}
		// projects lists only one's own.
		var out struct{ Projects []struct{ ID string } }
		bob.MustDo(`{ projects { id } }`, nil, &out)
		if len(out.Projects) != 1 || out.Projects[0].ID != bobsProject {
			t.Fatalf("Bob's projects: %+v", out.Projects)
		}
	})
}

func TestLastOwnerStays(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := newProjectFixture(t, d)
		remove := `mutation($p: ID!, $u: ID!) { removeProjectMember(projectId: $p, userId: $u) }`
		pid := f.owner.CreateProject("P")

		if e := f.owner.ErrorCode(remove, map[string]any{"p": pid, "u": f.owner.ID}); e.Code() != "CONFLICT" {
			t.Fatalf("the only owner leaving: %s", e.Code())
		}
		// A viewer may leave on their own.
		f.owner.AddMember(pid, f.viewer.Email, "VIEWER")
		f.viewer.MustDo(remove, map[string]any{"p": pid, "u": f.viewer.ID}, nil)
		// With a second owner, the first may leave; then the second is the last.
		f.owner.AddMember(pid, f.twin.Email, "OWNER")
		f.owner.MustDo(remove, map[string]any{"p": pid, "u": f.owner.ID}, nil)
		if e := f.twin.ErrorCode(remove, map[string]any{"p": pid, "u": f.twin.ID}); e.Code() != "CONFLICT" {
			t.Fatalf("the last owner leaving: %s", e.Code())
		}
		// Adding an existing member again is a conflict, not a second row.
		if e := f.twin.ErrorCode(`mutation($p: ID!, $e: String!) { addProjectMember(projectId: $p, email: $e, role: ADMIN) { role } }`,
			map[string]any{"p": pid, "e": f.twin.Email}); e.Code() != "CONFLICT" {
			t.Fatalf("adding a member twice: %s", e.Code())
		}
		// Adding someone without an account names the field.
		if e := f.twin.ErrorCode(`mutation($p: ID!) { addProjectMember(projectId: $p, email: "nobody@example.com", role: MEMBER) { role } }`,
			map[string]any{"p": pid}); e.Code() != "BAD_USER_INPUT" || e.Field() != "email" {
			t.Fatalf("adding an unknown e-mail: %s field %q", e.Code(), e.Field())
		}
	})
}
