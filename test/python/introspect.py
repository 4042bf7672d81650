"""Builds the server's schema with graphql-core 3.2 (what Python's gql
uses) from its standard introspection query, with every option it has.

Run by the Go test internal/app/tools_test.go. Environment: OTTR_URL (the
server's base URL). Prints "ok <types>" and exits 0.
"""
import json
import os
import sys
import urllib.request

import graphql
from graphql import build_client_schema, get_introspection_query

if not graphql.__version__.startswith("3.2."):
    sys.exit(f"introspection: graphql-core 3.2 expected, found {graphql.__version__}")

for options in ({}, dict(descriptions=True, specified_by_url=True, directive_is_repeatable=True,
                         schema_description=True, input_value_deprecation=True)):
    request = urllib.request.Request(
        os.environ["OTTR_URL"] + "/query",
        data=json.dumps({"query": get_introspection_query(**options)}).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        body = json.load(response)
    if body.get("errors"):
        sys.exit(f"introspection with {options}: {body['errors']}")
    schema = build_client_schema(body["data"])
    if schema.query_type.name != "Query" or schema.get_type("Project") is None:
        sys.exit(f"introspection with {options}: the schema lacks Query or Project")
    deprecated = schema.get_directive("deprecated")
    if deprecated is None or "DIRECTIVE_DEFINITION" in [l.name for l in deprecated.locations]:
        sys.exit(f"introspection with {options}: @deprecated is not the specified one")

print("ok", len([n for n in schema.type_map if not n.startswith("__")]))
