"""AppSync's directive rules: field over type over default, and cognito groups."""

from __future__ import annotations

from app.schema_loader import load_schema_text
from auth.field_rules import FieldRules
from auth.modes import AuthMode, Identity

SCHEMA = """
type Product @aws_api_key @aws_cognito_user_pools {
  id: ID!
  name: String
  cost: Int @aws_iam
  margin: Int @aws_cognito_user_pools(cognito_groups: ["finance"])
}
type Note { text: String }
type Query {
  product: Product
  note: Note
  secret: String @aws_iam
  staff: String @aws_auth(cognito_groups: ["staff", "admin"])
}
"""

KEY = Identity(AuthMode.API_KEY)
IAM = Identity(AuthMode.AWS_IAM, {"userArn": "arn:aws:iam::1:user/x"})
USER = Identity(AuthMode.AMAZON_COGNITO_USER_POOLS, {"sub": "u"}, frozenset({"staff"}))
FINANCE = Identity(AuthMode.AMAZON_COGNITO_USER_POOLS, {"sub": "f"}, frozenset({"finance"}))


def rules(default: AuthMode = AuthMode.AWS_IAM) -> FieldRules:
    return FieldRules(load_schema_text(SCHEMA, "schema.graphql").schema, default)


def test_fields_without_directives_follow_their_type():
    r = rules()
    assert r.allowed(KEY, "Product", "name")
    assert r.allowed(USER, "Product", "name")
    assert not r.allowed(IAM, "Product", "name")  # the type names modes, so the default is not implied


def test_a_field_directive_replaces_the_type_directives():
    r = rules()
    assert r.allowed(IAM, "Product", "cost")
    assert not r.allowed(KEY, "Product", "cost")
    assert not r.allowed(USER, "Product", "cost")


def test_untouched_types_and_fields_take_only_the_default_mode():
    r = rules(AuthMode.AWS_IAM)
    assert r.allowed(IAM, "Query", "product")
    assert r.allowed(IAM, "Note", "text")
    assert not r.allowed(KEY, "Note", "text")
    assert rules(AuthMode.API_KEY).allowed(KEY, "Note", "text")


def test_cognito_groups_narrow_user_pool_access():
    r = rules()
    assert r.allowed(FINANCE, "Product", "margin")
    assert not r.allowed(USER, "Product", "margin")
    assert r.allowed(USER, "Query", "staff")
    assert not r.allowed(FINANCE, "Query", "staff")
    assert not r.allowed(KEY, "Query", "staff")


def test_typename_is_never_protected():
    assert rules().allowed(KEY, "Query", "__typename")


def test_generated_model_fields_take_the_model_types_directives():
    loaded = load_schema_text("type Todo @model @aws_api_key { name: String }", "schema.graphql")
    r = FieldRules(loaded.schema, AuthMode.AWS_IAM)
    assert r.allowed(KEY, "Todo", "createdAt")
    assert not r.allowed(IAM, "Todo", "name")
    assert r.allowed(IAM, "Query", "getTodo")  # root fields without directives: the default mode


GUARDED = """
type Item @aws_api_key { id: ID!, name: String, cost: Int @aws_iam, secretNN: String! @aws_iam }
type Query @aws_api_key {
  item: Item
  items: [Item]
  adminOnly: String @aws_iam
}
type Mutation { touch: String @aws_iam }
"""

GUARDED_CONFIG = '[resolvers."Query.item"]\nhandler = "tests.test_field_rules:an_item"\n' \
    '[resolvers."Query.items"]\nhandler = "tests.test_field_rules:some_items"\n' \
    '[resolvers."Query.adminOnly"]\nhandler = "tests.test_field_rules:admin_only"\n' \
    '[resolvers."Mutation.touch"]\nhandler = "tests.test_field_rules:touch"\n'

CALLS: list[str] = []


def an_item(ctx):
    return {"id": "1", "name": "n", "cost": 5, "secretNN": "s"}


def some_items(ctx):
    return [an_item(ctx), an_item(ctx)]


def admin_only(ctx):
    CALLS.append("adminOnly")
    return "secret"


def touch(ctx):
    CALLS.append("touch")
    return "touched"


async def test_a_denied_field_is_null_with_appsyncs_unauthorized_error(make_client, tmp_path):
    client = await make_client(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}", schema=GUARDED, config=GUARDED_CONFIG)
    CALLS.clear()
    body = await client.gql("{ item { id name cost } adminOnly }")
    assert body["data"] == {"item": {"id": "1", "name": "n", "cost": None}, "adminOnly": None}
    errors = {tuple(e["path"]): e for e in body["errors"]}
    assert errors[("item", "cost")]["errorType"] == "Unauthorized"
    assert errors[("item", "cost")]["message"] == "Not Authorized to access cost on type Item"
    assert errors[("adminOnly",)]["message"] == "Not Authorized to access adminOnly on type Query"
    assert CALLS == []  # the denied resolver never ran


async def test_a_denied_non_null_field_nulls_its_parent_and_mutations_are_guarded(make_client, tmp_path):
    client = await make_client(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}", schema=GUARDED, config=GUARDED_CONFIG)
    CALLS.clear()
    body = await client.gql("{ items { id secretNN } }")
    assert body["data"] == {"items": [None, None]}
    assert [e["path"] for e in body["errors"]] == [["items", 0, "secretNN"], ["items", 1, "secretNN"]]
    mutation = await client.gql("mutation { touch }")
    assert mutation["data"] == {"touch": None}
    assert mutation["errors"][0]["errorType"] == "Unauthorized"
    assert CALLS == []


async def test_the_graphql_core_fallback_path_enforces_the_same_rules(make_client, tmp_path):
    client = await make_client(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}", schema=GUARDED, config=GUARDED_CONFIG)
    executor = client.runtime.executor
    executor._plans.plan = lambda *_args, **_kwargs: None  # force the stock executor for this app
    body = await client.gql("{ item { id cost } }")
    assert body["data"] == {"item": {"id": "1", "cost": None}}
    assert body["errors"][0]["errorType"] == "Unauthorized"
