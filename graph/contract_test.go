package graph

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestServedSchemaKeepsTheContract checks the schema the server serves
// against the API contract (schema/testdata/contract.graphqls, a copy of
// shared/api/contract.graphqls that .ci/run keeps equal): every type, field,
// argument and enum value of the contract must be served, with a type a
// client written against the contract still works with. The server may add
// fields, types and optional arguments.
func TestServedSchemaKeepsTheContract(t *testing.T) {
	raw, err := os.ReadFile("../schema/testdata/contract.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	served := NewExecutableSchema(Config{}).Schema()
	for _, p := range contractProblems(t, string(raw), served) {
		t.Error(p)
	}
}

// TestContractCheckFindsBreaks makes sure the check above can fail.
func TestContractCheckFindsBreaks(t *testing.T) {
	served := NewExecutableSchema(Config{}).Schema()
	for name, tc := range map[string]struct{ contract, want string }{
		"missing type":        {`type Gone { id: ID! }`, "type Gone: not served"},
		"missing field":       {`type User { id: ID!, age: Int }`, "User.age: not served"},
		"looser output":       {`type User { id: ID!, email: String! }`, ""},
		"stricter output":     {`type Approval { info: String! }`, "Approval.info: served as String"},
		"other named type":    {`type User { name: Int! }`, "User.name: served as String!"},
		"list shape":          {`type User { name: [String!]! }`, "User.name: served as String!"},
		"missing enum value":  {`enum Role { OWNER GUEST }`, "enum Role: value GUEST not served"},
		"missing argument":    {`type Query { project(id: ID!, slug: String): Project }`, "Query.project(slug): not served"},
		"argument now needed": {`type Query { approval(id: ID): Approval }`, "Query.approval(id): served as ID!"},
		"other default":       {`type Project { approvals(first: Int = 5): ApprovalConnection! }`, "Project.approvals(first): default 20"},
		"required input":      {`input LogInInput { email: String! }`, "LogInInput(password): required"},
	} {
		t.Run(name, func(t *testing.T) {
			// Stub the types the snippet refers to so that it parses alone.
			src := tc.contract
			for _, ref := range []string{"Project", "Approval", "ApprovalConnection"} {
				if !strings.Contains(src, "type "+ref+" ") {
					src += "\ntype " + ref + " { id: ID }"
				}
			}
			var matched []string
			for _, p := range contractProblems(t, src, served) {
				if strings.HasPrefix(p, "type Project") || strings.HasPrefix(p, "type Approval") ||
					strings.HasPrefix(p, "Project.id") || strings.HasPrefix(p, "Approval.id") || strings.HasPrefix(p, "ApprovalConnection.id") {
					continue // the stubs
				}
				matched = append(matched, p)
			}
			switch {
			case tc.want == "" && len(matched) > 0:
				t.Errorf("problems %q, want none", matched)
			case tc.want != "" && !slices.ContainsFunc(matched, func(p string) bool { return strings.HasPrefix(p, tc.want) }):
				t.Errorf("problems %q, want one starting %q", matched, tc.want)
			}
		})
	}
}

func contractProblems(t *testing.T, contractSrc string, served *ast.Schema) []string {
	t.Helper()
	contract, gqlErr := gqlparser.LoadSchema(&ast.Source{Name: "contract.graphqls", Input: contractSrc})
	if gqlErr != nil {
		t.Fatalf("parse contract: %v", gqlErr)
	}
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for name, want := range contract.Types {
		if want.BuiltIn {
			continue
		}
		got := served.Types[name]
		if got == nil {
			report("type %s: not served", name)
			continue
		}
		if got.Kind != want.Kind {
			report("type %s: served as %s, contract says %s", name, got.Kind, want.Kind)
			continue
		}
		switch want.Kind {
		case ast.Object, ast.Interface:
			for _, wf := range want.Fields {
				if strings.HasPrefix(wf.Name, "__") {
					continue
				}
				gf := got.Fields.ForName(wf.Name)
				if gf == nil {
					report("%s.%s: not served", name, wf.Name)
					continue
				}
				if !compatible(wf.Type, gf.Type, false) {
					report("%s.%s: served as %s, contract says %s", name, wf.Name, gf.Type, wf.Type)
				}
				problems = append(problems, inputProblems(name+"."+wf.Name, arguments(wf.Arguments), arguments(gf.Arguments))...)
			}
		case ast.InputObject:
			problems = append(problems, inputProblems(name, want.Fields, got.Fields)...)
		case ast.Enum:
			for _, v := range want.EnumValues {
				if got.EnumValues.ForName(v.Name) == nil {
					report("enum %s: value %s not served", name, v.Name)
				}
			}
		case ast.Union:
			for _, m := range want.Types {
				if !slices.Contains(got.Types, m) {
					report("union %s: member %s not served", name, m)
				}
			}
		}
		for _, i := range want.Interfaces {
			if !slices.Contains(got.Interfaces, i) {
				report("type %s: does not implement %s", name, i)
			}
		}
	}
	slices.Sort(problems)
	return problems
}

func arguments(args ast.ArgumentDefinitionList) ast.FieldList {
	out := make(ast.FieldList, len(args))
	for i, a := range args {
		out[i] = &ast.FieldDefinition{Name: a.Name, Type: a.Type, DefaultValue: a.DefaultValue}
	}
	return out
}

// inputProblems compares what a client sends (arguments, input fields):
// the server may accept more (null where the contract requires a value),
// and what it adds must be optional.
func inputProblems(where string, want, got ast.FieldList) []string {
	var problems []string
	for _, w := range want {
		g := got.ForName(w.Name)
		switch {
		case g == nil:
			problems = append(problems, fmt.Sprintf("%s(%s): not served", where, w.Name))
		case !compatible(w.Type, g.Type, true):
			problems = append(problems, fmt.Sprintf("%s(%s): served as %s, contract says %s", where, w.Name, g.Type, w.Type))
		case w.DefaultValue != nil && (g.DefaultValue == nil || g.DefaultValue.String() != w.DefaultValue.String()):
			problems = append(problems, fmt.Sprintf("%s(%s): default %v, contract says %s", where, w.Name, g.DefaultValue, w.DefaultValue))
		}
	}
	for _, g := range got {
		if want.ForName(g.Name) == nil && g.Type.NonNull && g.DefaultValue == nil {
			problems = append(problems, fmt.Sprintf("%s(%s): required, but not in the contract", where, g.Name))
		}
	}
	return problems
}

// compatible reports whether the served type works for a client of the
// contract's type: the same named type and list shape, where the receiving
// side may be looser (for inputs the server may accept null where the
// contract sends a value; for outputs it may promise a value where the
// contract allows null).
func compatible(contract, served *ast.Type, input bool) bool {
	if contract.NonNull != served.NonNull && served.NonNull == input {
		return false
	}
	if (contract.Elem == nil) != (served.Elem == nil) {
		return false
	}
	if contract.Elem != nil {
		return compatible(contract.Elem, served.Elem, input)
	}
	return contract.NamedType == served.NamedType
}
