"""Request limits: token count before parsing, depth / aliases / introspection in validation."""

from __future__ import annotations

import time

import pytest
from graphql import GraphQLError, GraphQLSyntaxError, build_schema, parse, specified_rules, validate

from app.errors import QueryLimitError
from app.limits import QueryLimits, check_tokens, limit_rules

SCHEMA = build_schema(
    """
    type Query { node: Node }
    type Node { id: ID, child: Node, name: String }
    """
)

LIMIT_EXTENSIONS = {"errorType": "QueryLimitExceeded"}


def run(query: str, limits: QueryLimits | None = None) -> list[GraphQLError]:
    rules = [*specified_rules, *limit_rules(limits or QueryLimits())]
    return validate(SCHEMA, parse(query), rules=rules)


def nested(depth: int) -> str:
    """A query whose deepest field is ``depth`` levels down: node, child, ..., id."""
    assert depth >= 2
    return "{ node { " + "child { " * (depth - 2) + "id" + " }" * (depth - 1) + " }"


def aliased(count: int) -> str:
    return " ".join(f"a{i}: id" for i in range(count))


def chain(links: int) -> str:
    """A query spreading F0, where each fragment has one alias and spreads the next twice."""
    fragments = [
        f"fragment F{i} on Node {{ a: id child {{ ...F{i + 1} ...F{i + 1} }} }}" for i in range(links)
    ]
    fragments.append(f"fragment F{links} on Node {{ a: id }}")
    return "{ node { ...F0 } }\n" + "\n".join(fragments)


# --- QueryLimits ----------------------------------------------------------------------------


def test_query_limits_have_the_documented_defaults() -> None:
    limits = QueryLimits()
    assert limits.max_depth == 15
    assert limits.max_aliases == 30
    assert limits.max_tokens == 2000
    assert limits.max_body_bytes == 1_000_000
    assert limits.max_batch == 10
    assert limits.introspection is True


def test_limit_rules_add_the_introspection_rule_only_when_introspection_is_off() -> None:
    assert len(limit_rules(QueryLimits())) == 2
    assert len(limit_rules(QueryLimits(introspection=False))) == 3


# --- depth ----------------------------------------------------------------------------------


def test_the_nested_helper_builds_a_query_of_the_requested_depth() -> None:
    assert nested(2) == "{ node { id } }"
    assert run(nested(3), QueryLimits(max_depth=3)) == []
    assert run(nested(4), QueryLimits(max_depth=3)) != []


def test_a_query_exactly_at_the_depth_limit_passes() -> None:
    assert run(nested(15)) == []


def test_a_query_one_level_over_the_depth_limit_fails_with_the_operations_location() -> None:
    errors = run(nested(16))
    assert len(errors) == 1
    assert errors[0].message == "Query depth 16 exceeds the maximum of 15"
    assert errors[0].extensions == LIMIT_EXTENSIONS
    assert errors[0].locations is not None
    assert (errors[0].locations[0].line, errors[0].locations[0].column) == (1, 1)


def test_depth_is_reported_exactly_however_far_over_the_limit() -> None:
    errors = run(nested(17))
    assert [e.message for e in errors] == ["Query depth 17 exceeds the maximum of 15"]


def test_depth_counts_fields_inside_named_fragments_where_they_are_spread() -> None:
    query = """
    { node { child { ...Deep } } }
    fragment Deep on Node { child { child { id } } }
    """
    assert run(query, QueryLimits(max_depth=5)) == []
    errors = run(query, QueryLimits(max_depth=4))
    assert [e.message for e in errors] == ["Query depth 5 exceeds the maximum of 4"]


def test_depth_follows_nested_fragment_spreads() -> None:
    query = """
    { node { ...A } }
    fragment A on Node { child { ...B } }
    fragment B on Node { child { child { id } } }
    """
    errors = run(query, QueryLimits(max_depth=4))
    assert [e.message for e in errors] == ["Query depth 5 exceeds the maximum of 4"]


def test_inline_fragments_add_no_level_but_their_fields_do() -> None:
    query = "{ node { ... on Node { child { ... { child { id } } } } } }"
    assert run(query, QueryLimits(max_depth=4)) == []
    errors = run(query, QueryLimits(max_depth=3))
    assert [e.message for e in errors] == ["Query depth 4 exceeds the maximum of 3"]


def test_introspection_fields_count_toward_depth() -> None:
    query = "{ __schema { types { fields { type { ofType { name } } } } } }"
    errors = run(query, QueryLimits(max_depth=5))
    assert [e.message for e in errors] == ["Query depth 6 exceeds the maximum of 5"]


def test_each_operation_is_measured_on_its_own() -> None:
    query = f"query Shallow {nested(2)} query Deep {nested(16)}"
    errors = run(query)
    assert [e.message for e in errors] == ["Query depth 16 exceeds the maximum of 15"]
    assert errors[0].locations is not None
    assert errors[0].locations[0].column == query.index("query Deep") + 1


def test_cyclic_fragments_are_reported_by_the_standard_rule_and_do_not_hang() -> None:
    query = """
    { node { ...A } }
    fragment A on Node { child { ...B } }
    fragment B on Node { child { ...A } }
    fragment Self on Node { id ...Self }
    """
    started = time.perf_counter()
    errors = run(query)
    assert time.perf_counter() - started < 1
    assert any("Cannot spread fragment" in e.message for e in errors)


def test_an_unknown_fragment_is_left_to_the_standard_rule() -> None:
    errors = run("{ node { ...Missing } }")
    assert [e.message for e in errors] == ["Unknown fragment 'Missing'."]


# --- aliases --------------------------------------------------------------------------------


def test_thirty_aliases_pass() -> None:
    assert run("{ node { " + aliased(30) + " } }") == []


def test_thirty_one_aliases_fail() -> None:
    errors = run("{ node { " + aliased(31) + " } }")
    assert len(errors) == 1
    assert errors[0].message == "Query uses 31 aliases, more than the maximum of 30"
    assert errors[0].extensions == LIMIT_EXTENSIONS
    assert errors[0].locations is not None
    assert (errors[0].locations[0].line, errors[0].locations[0].column) == (1, 1)


def test_aliases_are_multiplied_by_each_fragment_spread() -> None:
    query = """
    { node { ...Five c1: child { ...Five } c2: child { ...Five } } }
    fragment Five on Node { a: id b: id c: id d: id e: id }
    """
    # 3 spreads of 5 aliases, plus the 2 aliased child fields.
    assert run(query, QueryLimits(max_aliases=17)) == []
    errors = run(query, QueryLimits(max_aliases=16))
    assert [e.message for e in errors] == ["Query uses 17 aliases, more than the maximum of 16"]


def test_aliases_are_multiplied_through_nested_fragment_spreads() -> None:
    query = """
    { node { ...B c: child { ...B } } }
    fragment B on Node { x1: child { ...A } x2: child { ...A } x3: child { ...A } x4: child { ...A } }
    fragment A on Node { a: id b: id c: id d: id }
    """
    # Each B is 4 aliased children plus 4 spreads of A (4 aliases each): 20.
    # The query spreads B twice and aliases one child: 41 > 30.
    errors = run(query)
    assert [e.message for e in errors] == ["Query uses 41 aliases, more than the maximum of 30"]


def test_four_aliases_spread_four_times_spread_twice_is_thirty_two() -> None:
    query = """
    { node { ...B child { ...B } } }
    fragment B on Node { ...A ... on Node { ...A } child { ...A ...A } }
    fragment A on Node { a: id b: id c: id d: id }
    """
    errors = run(query)
    assert [e.message for e in errors] == ["Query uses 32 aliases, more than the maximum of 30"]


def test_a_deep_fragment_chain_validates_in_linear_time_and_reports_the_exact_count() -> None:
    links = 50
    query = chain(links)
    started = time.perf_counter()
    errors = run(query, QueryLimits(max_depth=1000))
    assert time.perf_counter() - started < 2
    # F_i has 1 + 2 * aliases(F_{i+1}) aliases, and F_links has 1: 2**(links+1) - 1 in all.
    expected = 2 ** (links + 1) - 1
    assert [e.message for e in errors] == [f"Query uses {expected} aliases, more than the maximum of 30"]


def test_an_astronomical_alias_count_saturates_instead_of_growing_without_bound() -> None:
    errors = run(chain(80), QueryLimits(max_depth=1000))
    assert [e.message for e in errors] == [
        f"Query uses at least {2**63 - 1} aliases, more than the maximum of 30"
    ]


def test_unaliased_fields_do_not_count_as_aliases() -> None:
    assert run("{ node { " + "id " * 100 + "} }") == []


# --- tokens ---------------------------------------------------------------------------------


def test_a_query_exactly_at_the_token_limit_passes() -> None:
    query = "{ node { id } }"  # { node { id } } is six tokens
    check_tokens(query, 6)


def test_a_query_one_token_over_the_limit_fails() -> None:
    with pytest.raises(QueryLimitError) as caught:
        check_tokens("{ node { id name } }", 6)
    assert caught.value.message == "Query has more than 6 tokens"
    assert caught.value.error_type == "QueryLimitExceeded"


def test_the_default_limit_is_reported_in_the_message() -> None:
    query = "{ " + "id " * 2000 + "}"
    with pytest.raises(QueryLimitError, match=r"^Query has more than 2000 tokens$"):
        check_tokens(query, QueryLimits().max_tokens)


def test_whitespace_and_commas_are_not_tokens() -> None:
    check_tokens("{\n\tnode ,,, {   id,\r\n }\ufeff}", 6)


def test_comments_count_as_tokens_so_comment_padding_cannot_evade_the_limit() -> None:
    check_tokens("# one\n{ id }", 4)
    with pytest.raises(QueryLimitError):
        check_tokens("# one\n# two\n{ id }", 4)


def test_a_five_megabyte_document_is_rejected_quickly() -> None:
    query = "{ " + "node { id } " * (5_000_000 // 12 + 1) + "}"
    assert len(query) >= 5_000_000
    started = time.perf_counter()
    with pytest.raises(QueryLimitError):
        check_tokens(query, 2000)
    assert time.perf_counter() - started < 0.5


def test_a_five_megabyte_run_of_comments_is_rejected_quickly() -> None:
    query = "#\n" * 2_500_000 + "{ id }"
    started = time.perf_counter()
    with pytest.raises(QueryLimitError):
        check_tokens(query, 2000)
    assert time.perf_counter() - started < 0.5


def test_lexical_errors_propagate_as_syntax_errors() -> None:
    with pytest.raises(GraphQLSyntaxError, match="Unterminated string"):
        check_tokens('{ node(id: "oops) { id } }', 2000)
    with pytest.raises(GraphQLSyntaxError, match="Unexpected character"):
        check_tokens("{ node { id ? } }", 2000)


def test_a_lexical_error_beyond_the_limit_is_never_read() -> None:
    # The limit is hit first, so the rest of the document is never read.
    with pytest.raises(QueryLimitError):
        check_tokens('{ node { id } } "unterminated', 3)


# --- introspection --------------------------------------------------------------------------


NO_INTROSPECTION = QueryLimits(introspection=False)


def test_introspection_is_allowed_by_default() -> None:
    assert run('{ __schema { queryType { name } } __type(name: "Node") { name } }') == []


def test_schema_is_blocked_when_introspection_is_off() -> None:
    errors = run("{ __schema { queryType { name } } }", NO_INTROSPECTION)
    assert len(errors) == 1
    assert errors[0].message == "GraphQL introspection is not allowed"
    assert errors[0].extensions == {"errorType": "ValidationError"}
    assert errors[0].locations is not None
    assert (errors[0].locations[0].line, errors[0].locations[0].column) == (1, 3)


def test_type_is_blocked_when_introspection_is_off() -> None:
    errors = run('{ __type(name: "Node") { name } }', NO_INTROSPECTION)
    assert [e.message for e in errors] == ["GraphQL introspection is not allowed"]


def test_introspection_hidden_in_a_fragment_is_blocked() -> None:
    query = "{ ...Meta } fragment Meta on Query { __schema { types { name } } }"
    errors = run(query, NO_INTROSPECTION)
    assert [e.message for e in errors] == ["GraphQL introspection is not allowed"]


def test_typename_is_allowed_when_introspection_is_off() -> None:
    assert run("{ __typename node { __typename id } }", NO_INTROSPECTION) == []
