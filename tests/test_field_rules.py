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
