"""Schema-first loading: AppSync built-ins, clear start-up errors with file and line."""

from __future__ import annotations

import pytest

from app.errors import ConfigError
from app.runtime import build
from app.schema_loader import load_schema_text
from app.settings import load_settings


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_schema_text(text, "schema.graphql")
    return [str(p) for p in caught.value.problems]


def test_appsync_scalars_and_directives_need_no_declaration():
    loaded = load_schema_text(
        """
        type Note @aws_api_key @aws_iam {
          id: ID!
          at: AWSDateTime @aws_cognito_user_pools(cognito_groups: ["admin"])
          day: AWSDate
          time: AWSTime
          stamp: AWSTimestamp
          mail: AWSEmail
          json: AWSJSON
          url: AWSURL
          phone: AWSPhone
          ip: AWSIPAddress @aws_oidc @aws_lambda
        }
        type Query { note: Note @aws_auth(cognito_groups: ["a"]) }
        type Mutation { put(id: ID!): Note }
        type Subscription { onPut: Note @aws_subscribe(mutations: ["put"]) }
        """,
        "schema.graphql",
    )
    assert loaded.schema.type_map["Note"].fields["ip"].type.name == "AWSIPAddress"


def test_a_syntax_error_names_the_file_and_line():
    problems = problems_of("type Query {\n  a: String\n  b String\n}\n")
    assert problems[0].startswith("schema.graphql:3:")
    assert "Syntax Error" in problems[0]


def test_an_unknown_type_names_the_file_and_line():
    problems = problems_of("type Query {\n  a: Strin\n}\n")
    assert problems == ["schema.graphql:2:6: Unknown type 'Strin'. Did you mean 'String'?"]


def test_model_mistakes_are_reported_with_lines():
    problems = problems_of(
        "type A @model {\n  id: ID!\n  b: B\n}\ntype B @model { id: ID! }\n"
        "type C @model {\n  id: ID!\n  xs: [A] @hasMany(indexName: \"nope\")\n}\n"
    )
    assert any(p.startswith("schema.graphql:3:") and "add @hasOne or @belongsTo" in p for p in problems)
    assert any(p.startswith("schema.graphql:8:") and "has no index 'nope'" in p for p in problems)


def test_model_generates_amplify_operations_and_inputs():
    loaded = load_schema_text("type Todo @model { name: String! done: Boolean }", "schema.graphql")
    fields = loaded.schema.query_type.fields
    assert {"getTodo", "listTodos"} <= set(fields)
    assert set(fields["listTodos"].args) == {"filter", "limit", "nextToken"}
    assert {"createTodo", "updateTodo", "deleteTodo"} <= set(loaded.schema.mutation_type.fields)
    assert {"onCreateTodo", "onUpdateTodo", "onDeleteTodo"} <= set(loaded.schema.subscription_type.fields)
    todo = loaded.schema.type_map["Todo"]
    assert {"id", "name", "done", "createdAt", "updatedAt"} <= set(todo.fields)
    filter_input = loaded.schema.type_map["ModelTodoFilterInput"]
    assert {"name", "done", "and", "or", "not"} <= set(filter_input.fields)
    string_ops = set(loaded.schema.type_map["ModelStringInput"].fields)
    assert {"eq", "ne", "le", "lt", "ge", "gt", "contains", "notContains", "between", "beginsWith",
            "attributeExists", "size"} <= string_ops


def test_model_operations_can_be_renamed_or_turned_off():
    loaded = load_schema_text(
        'type Todo @model(queries: {get: "todo", list: null}, subscriptions: null) { name: String }',
        "schema.graphql",
    )
    assert "todo" in loaded.schema.query_type.fields
    assert "listTodos" not in loaded.schema.query_type.fields
    assert loaded.schema.subscription_type is None


def test_a_resolver_bound_to_a_missing_field_fails_at_start_up(tmp_path):
    (tmp_path / "schema.graphql").write_text("type Query { a: String }")
    (tmp_path / "trellis.toml").write_text(
        '[resolvers."Query.b"]\nhandler = "resolvers.demo:quote_shipping"\n'
        '[resolvers."Query.a"]\ndatasource = "missing"\n'
        '[datasources.x]\nkind = "carrier-pigeon"\n'
    )
    settings = load_settings(tmp_path / "schema.graphql", environ={}, data_dir=tmp_path / ".t")
    with pytest.raises(ConfigError) as caught:
        build(settings)
    messages = [str(p) for p in caught.value.problems]
    config = str(tmp_path / "trellis.toml")
    assert f"{config}:1: resolver bound to Query.b, but the schema has no such field" in messages
    assert any(m.startswith(f"{config}:3:") and "unknown data source 'missing'" in m for m in messages)
    assert any(m.startswith(f"{config}:5:") and "unknown kind 'carrier-pigeon'" in m for m in messages)


def test_a_decorated_resolver_for_a_missing_field_names_its_source_line(tmp_path):
    from resolvers import registry

    (tmp_path / "schema.graphql").write_text("type Query { a: String }")

    @registry.resolver("Query.nowhere")
    def nowhere(ctx):
        return None

    try:
        settings = load_settings(tmp_path / "schema.graphql", environ={}, data_dir=tmp_path / ".t")
        with pytest.raises(ConfigError) as caught:
            build(settings)
    finally:
        registry._DECORATED.pop("Query.nowhere")
    message = str(caught.value.problems[0])
    assert message.startswith(f"{__file__}:")
    assert "Query.nowhere" in message


def test_bad_config_values_are_all_reported(tmp_path):
    (tmp_path / "schema.graphql").write_text("type Query { a: String }")
    (tmp_path / "trellis.toml").write_text('bogus = 1\n[limits]\nmax_depth = -1\nmax_nonsense = 3\n[server]\nport = "x"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "schema.graphql", environ={})
    messages = [str(p) for p in caught.value.problems]
    assert len(messages) == 4
    assert all(m.startswith(str(tmp_path / "trellis.toml")) for m in messages)


async def test_adding_a_field_needs_no_migration(make_client, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'evolve.db'}"
    first = await make_client(url, schema="type Note @model { text: String! }")
    await first.data('mutation { createNote(input: {text: "old"}) { id } }')
    await first.runtime.close()
    second = await make_client(
        url, schema='type Note @model { text: String! stars: Int @index(name: "byStars", queryField: "notesByStars") }'
    )
    await second.data('mutation { createNote(input: {text: "new", stars: 5}) { id } }')
    data = await second.data("{ listNotes { items { text stars } } }")
    assert sorted((i["text"], i["stars"]) for i in data["listNotes"]["items"]) == [("new", 5), ("old", None)]
    by_stars = await second.data("{ notesByStars(stars: 5) { items { text } } }")
    assert by_stars["notesByStars"]["items"] == [{"text": "new"}]
