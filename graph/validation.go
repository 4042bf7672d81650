package graph

import (
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// OverlapLimit bounds the comparisons that OverlappingFieldsCanBeMerged
// may make (overlapComparisons). The rule compares the
// fields of one name pairwise, so a document of 2,400 __typename fields,
// well under the token limit, took it 1.5 s; at the limit it takes a few
// milliseconds (BENCHMARKS.md).
const OverlapLimit = 50_000

const (
	overlapRule    = "OverlappingFieldsCanBeMerged"
	overlapRefusal = "the document has too many fields of one name to compare"
)

// validationRules are gqlparser's rules with two changes: with
// suggest false, every rule that would answer "Did you mean …?" is
// replaced by its variant that does not, since suggestions tell the schema
// that disabled introspection hides; and OverlappingFieldsCanBeMerged
// runs only on documents whose comparisons stay under OverlapLimit.
func validationRules(suggest bool) func() *rules.Rules {
	return func() *rules.Rules {
		r := rules.NewDefaultRules()
		if !suggest {
			for _, quiet := range []core.Rule{
				rules.FieldsOnCorrectTypeRuleWithoutSuggestions,
				rules.KnownArgumentNamesRuleWithoutSuggestions,
				rules.KnownTypeNamesRuleWithoutSuggestions,
				rules.ScalarLeafsRuleWithoutSuggestions,
				rules.ValuesOfCorrectTypeRuleWithoutSuggestions,
			} {
				r.RemoveRule(quiet.Name[:len(quiet.Name)-len("WithoutSuggestions")])
				r.AddRule(quiet.Name, quiet.RuleFunc)
			}
		}
		r.ReplaceRule(rules.OverlappingFieldsCanBeMergedRule.Name, boundedOverlap(rules.OverlappingFieldsCanBeMergedRule.RuleFunc))
		return r
	}
}

// boundedOverlap runs the overlap rule in a walk of its own once the
// document is known to be cheap enough to compare, and refuses the
// document otherwise.
func boundedOverlap(overlap core.RuleFunc) core.RuleFunc {
	return func(observers *core.Events, addError core.AddErrFunc) {
		done := false
		run := func(walker *core.Walker) {
			if done {
				return
			}
			done = true
			if n := overlapComparisons(walker.Document); n > OverlapLimit {
				addError(core.Message(overlapRefusal+" (%d comparisons; the limit is %d)", n, OverlapLimit))
				return
			}
			inner := &core.Events{}
			overlap(inner, addError)
			core.Walk(walker.Schema, walker.Document, inner)
		}
		observers.OnOperation(func(walker *core.Walker, _ *ast.OperationDefinition) { run(walker) })
		observers.OnFragment(func(walker *core.Walker, _ *ast.FragmentDefinition) { run(walker) })
	}
}

// overlapComparisons estimates the comparisons of the overlap rule: the
// sum of the squares of the numbers of fields that share a response name
// and the response name of the field they are selected in. The rule
// compares such fields pairwise (and their children when the names match),
// while fields selected in differently named fields never meet. Fields at
// the top of a fragment count with those at the top of operations.
func overlapComparisons(doc *ast.QueryDocument) int {
	type scoped struct{ parent, key string }
	counts := map[scoped]int{}
	var walk func(set ast.SelectionSet, parent string)
	walk = func(set ast.SelectionSet, parent string) {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				key := s.Alias
				if key == "" {
					key = s.Name
				}
				counts[scoped{parent, key}]++
				walk(s.SelectionSet, key)
			case *ast.InlineFragment:
				walk(s.SelectionSet, parent)
			}
		}
	}
	for _, op := range doc.Operations {
		walk(op.SelectionSet, "")
	}
	for _, f := range doc.Fragments {
		walk(f.SelectionSet, "")
	}
	total := 0
	for _, n := range counts {
		total = addCost(total, mulCost(n, n))
	}
	return total
}
