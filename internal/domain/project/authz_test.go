package project

import (
	"testing"

	"github.com/ottr/backend/internal/domain/auth"
)

// The roles as the product describes them: OWNER everything; ADMIN
// everything but deleting the project and changing owners; MEMBER works with
// keys and approvals; VIEWER reads. WRITE keys write data and manage Slack;
// READ keys read keys, approvals and events.
func TestPermissionsTable(t *testing.T) {
	t.Parallel()
	const (
		owner = 1 << iota
		admin
		member
		viewer
		writeKey
		readKey
	)
	want := map[Action]int{
		Read: owner | admin | member | viewer | writeKey | readKey,
		// A READ key reads values, not who uses the project or how.
		ReadSettings:  owner | admin | member | viewer | writeKey,
		Rename:        owner | admin,
		Delete:        owner,
		ManageMembers: owner | admin,
		ManageOwners:  owner,
		ManageAPIKeys: owner | admin,
		WriteData:     owner | admin | member | writeKey,
		ManageSlack:   owner | admin | writeKey,
		// Deciding is for people: a key would let a script approve its own request.
		Decide:           owner | admin | member,
		SetApprovalRules: owner | admin,
		ManageSettings:   owner | admin,
	}
	if len(Permissions) != len(want) {
		t.Fatalf("Permissions has %d actions, this table %d: add the new action here", len(Permissions), len(want))
	}
	roles := map[Role]int{RoleOwner: owner, RoleAdmin: admin, RoleMember: member, RoleViewer: viewer}
	scopes := map[auth.Scope]int{auth.ScopeWrite: writeKey, auth.ScopeRead: readKey}
	for action, bits := range want {
		for role, bit := range roles {
			if got := Allows(role, action); got != (bits&bit != 0) {
				t.Errorf("Allows(%s, %s) = %v", role, action, got)
			}
		}
		for scope, bit := range scopes {
			if got := AllowsKey(scope, action); got != (bits&bit != 0) {
				t.Errorf("AllowsKey(%s, %s) = %v", scope, action, got)
			}
		}
	}
	if Allows("SUPERUSER", Read) || AllowsKey("ADMIN", Read) || Allows(RoleOwner, "unknown") {
		t.Error("an unknown role, scope or action is allowed")
	}
}
