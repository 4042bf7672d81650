package graph

import (
	"slices"
	"strings"
	"testing"
)

// Every type, field, argument, input field and enum value of the schema
// has a description: the docs explorer, the SDL and generated client types
// are where a dashboard developer learns limits, defaults and errors.
func TestEverythingInTheSchemaIsDescribed(t *testing.T) {
	t.Parallel()
	s := NewExecutableSchema(Config{}).Schema()
	var missing []string
	check := func(what, description string) {
		if strings.TrimSpace(description) == "" {
			missing = append(missing, what)
		}
	}
	check("schema", s.Description)
	for name, def := range s.Types {
		if def.BuiltIn || strings.HasPrefix(name, "__") {
			continue
		}
		check(string(def.Kind)+" "+name, def.Description)
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue // the introspection fields, described by the spec
			}
			check(name+"."+f.Name, f.Description)
			for _, a := range f.Arguments {
				check(name+"."+f.Name+"("+a.Name+")", a.Description)
			}
		}
		for _, v := range def.EnumValues {
			check(name+"."+v.Name, v.Description)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Fatalf("%d without a description:\n%s", len(missing), strings.Join(missing, "\n"))
	}
}
