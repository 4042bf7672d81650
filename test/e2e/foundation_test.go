package e2e_test

import (
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

func TestSignUpCreateProjectAndReadItBack(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		alice := srv.SignUp("Alice")
		pid := alice.CreateProject("My Project")
		var out struct {
			Project struct {
				Name    string
				MyRole  string
				Members []struct {
					Role string
					User struct{ Email string }
				}
			}
		}
		alice.MustDo(`query($id: ID!) { project(id: $id) { name myRole members { role user { email } } } }`, map[string]any{"id": pid}, &out)
		if out.Project.Name != "My Project" || out.Project.MyRole != "OWNER" || len(out.Project.Members) != 1 || out.Project.Members[0].User.Email != alice.Email {
			t.Fatalf("unexpected project: %+v", out.Project)
		}
		bob := srv.SignUp("Bob")
		if e := bob.ErrorCode(`mutation($id: ID!) { p: renameProject(id: $id, name: "x") { id } }`, map[string]any{"id": pid}); e.Code() != "NOT_FOUND" {
			t.Fatalf("another tenant got %s, want NOT_FOUND", e.Code())
		}
	})
}
