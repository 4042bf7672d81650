package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/requestlog"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// statementCounter counts the SQL statements the server runs, through GORM
// and without it, for the requests that carry its request id.
type statementCounter struct {
	mu     sync.Mutex
	byID   map[string]int
	sqlFor map[string][]string
}

// install registers the counting callbacks; the server calls it before it
// runs any statement (config.OnDatabase).
func (c *statementCounter) install(db *gorm.DB) error {
	count := func(db *gorm.DB) {
		id := requestlog.ID(db.Statement.Context)
		if id == "" || db.DryRun {
			// A dry run only builds a statement that the store then
			// sends itself, and direct counts.
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.byID[id]++
		c.sqlFor[id] = append(c.sqlFor[id], db.Statement.SQL.String())
	}
	cb := db.Callback()
	return errors.Join(
		cb.Query().After("gorm:query").Register("test:count_query", count),
		cb.Row().After("gorm:row").Register("test:count_row", count),
		cb.Raw().After("gorm:raw").Register("test:count_raw", count),
		cb.Create().After("gorm:create").Register("test:count_create", count),
		cb.Update().After("gorm:update").Register("test:count_update", count),
		cb.Delete().After("gorm:delete").Register("test:count_delete", count),
	)
}

// direct counts a statement the store sends without GORM
// (config.OnDirectStatement): a page's hottest reads go that way.
func (c *statementCounter) direct(ctx context.Context, sql string) {
	id := requestlog.ID(ctx)
	if id == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byID[id]++
	c.sqlFor[id] = append(c.sqlFor[id], sql)
}

func (c *statementCounter) of(id string) (int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[id], c.sqlFor[id]
}

// countContaining counts the statements that name table.
func countContaining(sql []string, table string) int {
	n := 0
	for _, s := range sql {
		if strings.Contains(s, table) {
			n++
		}
	}
	return n
}

// A page of approvals with their events, project and pending keys costs the
// same number of statements whatever its size: the loaders read each kind
// of object once per page.
func TestPageCostsConstantStatements(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		counter := &statementCounter{byID: map[string]int{}, sqlFor: map[string][]string{}}
		srv := testserver.Start(t, d, func(cfg *config.Config) {
			cfg.OnDatabase, cfg.OnDirectStatement = counter.install, counter.direct
		})
		owner := srv.SignUp("Olga")
		pid := owner.CreateProject("Dashboard")
		_, secret := owner.CreateAPIKey(pid, "WRITE")
		script := srv.Client(secret)
		for i := range 100 {
			script.MustDo(`mutation($p: ID!, $k: String!) { createApproval(projectId: $p, input: {keyPath: $k, value: "yes", initialValue: "no"}) { approval { id } } }`,
				map[string]any{"p": pid, "k": fmt.Sprintf("svc/%03d", i)}, nil)
		}

		const query = `query($p: ID!, $n: Int!) { project(id: $p) {
			approvals(first: $n) { totalCount edges { node { id keyPath project { id name } events { id type approval { id } project { id } } } } }
			keys(first: $n) { edges { node { id path pendingApproval { id project { id } } } } }
		} }`
		type page struct {
			Project struct {
				Approvals struct {
					TotalCount int
					Edges      []struct {
						Node struct {
							ID, KeyPath string
							Project     struct{ ID string }
							Events      []struct {
								Type     string
								Approval struct{ ID string }
								Project  struct{ ID string }
							}
						}
					}
				}
				Keys struct {
					Edges []struct {
						Node struct {
							Path            string
							PendingApproval *struct {
								ID      string
								Project struct{ ID string }
							}
						}
					}
				}
			}
		}
		statements := map[int]int{}
		for _, n := range []int{10, 100} {
			reqID := fmt.Sprintf("count-%s-%d", d, n)
			c := srv.Client(owner.AccessToken)
			c.Header.Set("X-Request-Id", reqID)
			var out page
			c.MustDo(query, map[string]any{"p": pid, "n": n}, &out)

			a := out.Project.Approvals
			if a.TotalCount != 100 || len(a.Edges) != n || len(out.Project.Keys.Edges) != n {
				t.Fatalf("n=%d: totalCount %d, %d approvals, %d keys", n, a.TotalCount, len(a.Edges), len(out.Project.Keys.Edges))
			}
			pendingByPath := map[string]string{}
			for _, e := range a.Edges {
				node := e.Node
				if node.Project.ID != pid || len(node.Events) != 1 || node.Events[0].Type != "APPROVAL_CREATED" ||
					node.Events[0].Approval.ID != node.ID || node.Events[0].Project.ID != pid {
					t.Fatalf("n=%d: approval %+v", n, node)
				}
				pendingByPath[node.KeyPath] = node.ID
			}
			for _, e := range out.Project.Keys.Edges {
				p := e.Node.PendingApproval
				if p == nil || p.Project.ID != pid {
					t.Fatalf("n=%d: key %s has pending approval %+v", n, e.Node.Path, p)
				}
			}
			got, sql := counter.of(reqID)
			if got == 0 {
				t.Fatalf("n=%d: no statement counted", n)
			}
			statements[n] = got
			t.Logf("%s n=%d: %d statements", d, n, got)
			if testing.Verbose() {
				for _, s := range sql {
					t.Log("  ", s)
				}
			}
			// The caller's membership is read once for the whole page, not
			// once per field that authorizes.
			if m := countContaining(sql, "project_members"); m != 1 {
				t.Errorf("n=%d: %d reads of the membership; want 1", n, m)
			}
			// The page's events in one read, and its project in one.
			if e := countContaining(sql, "FROM events"); e != 1 {
				t.Errorf("n=%d: %d reads of events; want 1", n, e)
			}
			if p := countContaining(sql, "FROM projects"); p != 1 {
				t.Errorf("n=%d: %d reads of the project; want 1", n, p)
			}
		}
		if statements[100] != statements[10] {
			t.Errorf("statements for 10 approvals: %d, for 100: %d; want the same", statements[10], statements[100])
		}
	})
}

// The users a page of approvals names, as deciders and as who decided,
// are read in one query for the page, whatever its size.
func TestDecidersCostConstantStatements(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		counter := &statementCounter{byID: map[string]int{}, sqlFor: map[string][]string{}}
		srv := testserver.Start(t, d, func(cfg *config.Config) {
			cfg.OnDatabase, cfg.OnDirectStatement = counter.install, counter.direct
		})
		owner := srv.SignUp("Olga")
		pid := owner.CreateProject("Dashboard")
		_, secret := owner.CreateAPIKey(pid, "WRITE")
		script := srv.Client(secret)
		members := make([]*testserver.User, 3)
		for i := range members {
			members[i] = srv.SignUp(fmt.Sprintf("Member%d", i))
			owner.AddMember(pid, members[i].Email, "MEMBER")
		}
		const total = 30
		for i := range total {
			// Each approval names two members; the first of them decides it.
			first, second := members[i%3], members[(i+1)%3]
			var out struct {
				CreateApproval struct{ Approval struct{ ID string } }
			}
			script.MustDo(`mutation($p: ID!, $k: String!, $d: [String!]) { createApproval(projectId: $p, input: {keyPath: $k, deciders: $d,
				actions: [{key: "ok", value: "yes"}]}) { approval { id } } }`,
				map[string]any{"p": pid, "k": fmt.Sprintf("svc/%03d", i), "d": []string{first.ID, second.ID}}, &out)
			first.MustDo(`mutation($id: ID!) { decideApproval(id: $id, action: "ok") { id } }`, map[string]any{"id": out.CreateApproval.Approval.ID}, nil)
		}

		const query = `query($p: ID!, $n: Int!) { project(id: $p) { approvals(first: $n) { edges { node {
			deciders { id name } decision { decidedBy { via user { id name } } } } } } } }`
		type page struct {
			Project struct {
				Approvals struct {
					Edges []struct {
						Node struct {
							Deciders []struct{ ID, Name string }
							Decision struct {
								DecidedBy struct {
									Via  string
									User *struct{ ID, Name string }
								}
							}
						}
					}
				}
			}
		}
		statements := map[int]int{}
		for _, n := range []int{5, total} {
			reqID := fmt.Sprintf("deciders-%s-%d", d, n)
			c := srv.Client(owner.AccessToken)
			c.Header.Set("X-Request-Id", reqID)
			var out page
			c.MustDo(query, map[string]any{"p": pid, "n": n}, &out)
			edges := out.Project.Approvals.Edges
			if len(edges) != n {
				t.Fatalf("n=%d: %d approvals", n, len(edges))
			}
			for _, e := range edges {
				node := e.Node
				by := node.Decision.DecidedBy
				if len(node.Deciders) != 2 || node.Deciders[0].Name == "" || by.Via != "DASHBOARD" || by.User == nil ||
					by.User.ID != node.Deciders[0].ID || by.User.Name != node.Deciders[0].Name {
					t.Fatalf("n=%d: approval %+v", n, node)
				}
			}
			got, sql := counter.of(reqID)
			if got == 0 {
				t.Fatalf("n=%d: no statement counted", n)
			}
			statements[n] = got
			t.Logf("%s n=%d: %d statements", d, n, got)
			if testing.Verbose() {
				for _, s := range sql {
					t.Log("  ", s)
				}
			}
		}
		if statements[total] != statements[5] {
			t.Errorf("statements for 5 approvals: %d, for %d: %d; want the same", statements[5], total, statements[total])
		}
	})
}

// A dashboard's page that shows of its events only what every event has
// reads them in part, once for the page, and costs the same number of
// statements whatever its size.
func TestPageEventsInPartCostOneRead(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		counter := &statementCounter{byID: map[string]int{}, sqlFor: map[string][]string{}}
		srv := testserver.Start(t, d, func(cfg *config.Config) {
			cfg.OnDatabase, cfg.OnDirectStatement = counter.install, counter.direct
		})
		owner := srv.SignUp("Olga")
		pid := owner.CreateProject("Dashboard")
		for i := range 60 {
			owner.MustDo(`mutation($p: ID!, $k: String!) { createApproval(projectId: $p, input: {keyPath: $k, value: "yes"}) { approval { id } } }`,
				map[string]any{"p": pid, "k": fmt.Sprintf("svc/%03d", i)}, nil)
		}
		const query = `query($p: ID!, $n: Int!) { project(id: $p) {
			approvals(first: $n) { edges { node { id keyPath status expiresAt events { id type occurredAt } } } } } }`
		statements := map[int]int{}
		for _, n := range []int{10, 50} {
			reqID := fmt.Sprintf("part-%s-%d", d, n)
			c := srv.Client(owner.AccessToken)
			c.Header.Set("X-Request-Id", reqID)
			var out struct {
				Project struct {
					Approvals struct {
						Edges []struct {
							Node struct {
								Events []struct{ ID, Type, OccurredAt string }
							}
						}
					}
				}
			}
			c.MustDo(query, map[string]any{"p": pid, "n": n}, &out)
			if len(out.Project.Approvals.Edges) != n {
				t.Fatalf("n=%d: %d approvals", n, len(out.Project.Approvals.Edges))
			}
			for _, e := range out.Project.Approvals.Edges {
				if evs := e.Node.Events; len(evs) != 1 || evs[0].Type != "APPROVAL_CREATED" || evs[0].ID == "" || evs[0].OccurredAt == "" {
					t.Fatalf("n=%d: events %+v", n, evs)
				}
			}
			got, sql := counter.of(reqID)
			statements[n] = got
			if part := countContaining(sql, "SELECT id, type, occurred_at, approval_id FROM events"); part != 1 || countContaining(sql, "FROM events") != 1 {
				t.Errorf("n=%d: the page's events read %d times in part, in %d reads in all; want one read, in part:\n%s",
					n, part, countContaining(sql, "FROM events"), strings.Join(sql, "\n"))
			}
		}
		if statements[50] != statements[10] {
			t.Errorf("statements for 10 approvals: %d, for 50: %d; want the same", statements[10], statements[50])
		}
	})
}
