"""Amplify's @auth rules on @model: owners, static and dynamic groups, public and private, per operation.

One API with API_KEY (default) and AMAZON_COGNITO_USER_POOLS; tokens come from a local JWKS
server. Lists are filtered in the database: another owner's rows never appear, not even as a
shorter page or a nextToken.
"""

from __future__ import annotations

import time

import pytest

from tests.test_jwt_verifier import CLIENT, RSA_KEY, idp, sign  # noqa: F401 - idp fixture

SCHEMA = """
type Note @model @auth(rules: [
  {allow: owner},
  {allow: groups, groups: ["Admin"]},
  {allow: public, operations: [read]}
]) {
  id: ID!
  text: String!
}

type Doc @model @auth(rules: [
  {allow: owner, ownerField: "editors", operations: [read, update]},
  {allow: owner, ownerField: "author"},
  {allow: groups, groupsField: "team", operations: [read]}
]) {
  id: ID!
  title: String!
  author: String
  editors: [String]
  team: String
  sections: [Section] @hasMany
}

type Section @model @auth(rules: [{allow: private}]) {
  id: ID!
  heading: String!
  doc: Doc @belongsTo
}

type Board @model @auth(rules: [{allow: private, operations: [read]}, {allow: groups, groups: ["Admin"]}]) {
  id: ID!
  name: String!
}
"""


def token(issuer: str, sub: str, username: str, groups: list[str] | None = None) -> str:
    now = int(time.time())
    payload = {"iss": issuer, "sub": sub, "aud": CLIENT, "iat": now - 5, "exp": now + 600, "token_use": "id",
               "cognito:username": username}
    if groups:
        payload["cognito:groups"] = groups
    return sign(payload, RSA_KEY, "rsa-1")


class Users:
    def __init__(self, client, issuer: str) -> None:
        self.client = client
        self.issuer = issuer

    async def as_user(self, who: str, query: str, variables=None, groups=None) -> dict:
        jwt = token(self.issuer, f"sub-{who}", who, groups)
        response = await self.client.post(query, variables, key=None, headers={"authorization": jwt})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def users(make_client, database_url, idp):  # noqa: F811 - pytest injects the imported fixture
    pool = idp.base + "/pool"
    config = (
        '[auth]\ndefault = "API_KEY"\nadditional = ["AMAZON_COGNITO_USER_POOLS"]\n'
        f'[auth.cognito_user_pools]\nissuer = "{pool}"\napp_id_client_regex = "{CLIENT}"\n'
        f'jwks_url = "{idp.jwks_url}"\n'
    )
    client = await make_client(database_url, schema=SCHEMA, config=config)
    return Users(client, pool)


CREATE_NOTE = "mutation($t: String!) { createNote(input: {text: $t}) { id text owner } }"
LIST_NOTES = "query($n: String) { listNotes(limit: 2, nextToken: $n) { items { text owner } nextToken } }"


async def test_a_created_row_is_owned_by_its_creator_as_sub_and_username(users):
    body = await users.as_user("alice", CREATE_NOTE, {"t": "hello"})
    assert body["data"]["createNote"]["owner"] == "sub-alice::alice"


async def test_owners_list_only_their_own_rows_filtered_in_the_database(users):
    for i in range(3):
        await users.as_user("alice", CREATE_NOTE, {"t": f"a{i}"})
    for i in range(3):
        await users.as_user("bob", CREATE_NOTE, {"t": f"b{i}"})
    seen, token_ = [], None
    while True:
        page = (await users.as_user("bob", LIST_NOTES, {"n": token_}))["data"]["listNotes"]
        # Pages are full: another owner's rows are not fetched and then dropped.
        assert len(page["items"]) == 2 or page["nextToken"] is None
        seen.extend(page["items"])
        token_ = page["nextToken"]
        if token_ is None:
            break
    assert sorted(i["text"] for i in seen) == ["b0", "b1", "b2"]
    assert {i["owner"] for i in seen} == {"sub-bob::bob"}


async def test_a_next_token_is_bound_to_the_owner_who_received_it(users):
    for i in range(3):
        await users.as_user("alice", CREATE_NOTE, {"t": f"a{i}"})
    token_ = (await users.as_user("alice", LIST_NOTES))["data"]["listNotes"]["nextToken"]
    assert token_
    body = await users.as_user("bob", LIST_NOTES, {"n": token_})
    assert body["errors"][0]["errorType"] == "InvalidNextTokenException"


async def test_a_static_group_sees_and_changes_every_row(users):
    created = (await users.as_user("alice", CREATE_NOTE, {"t": "mine"}))["data"]["createNote"]
    await users.as_user("bob", CREATE_NOTE, {"t": "his"})
    body = await users.as_user("root", "{ listNotes { items { text } } }", groups=["Admin"])
    assert sorted(i["text"] for i in body["data"]["listNotes"]["items"]) == ["his", "mine"]
    body = await users.as_user("root", 'mutation($id: ID!) { updateNote(input: {id: $id, text: "edited"}) { text } }',
                               {"id": created["id"]}, groups=["Admin"])
    assert body["data"]["updateNote"] == {"text": "edited"}


async def test_another_owners_row_cannot_be_read_updated_or_deleted(users):
    note = (await users.as_user("alice", CREATE_NOTE, {"t": "private"}))["data"]["createNote"]
    body = await users.as_user("bob", "query($id: ID!) { getNote(id: $id) { text } }", {"id": note["id"]})
    assert body["data"] == {"getNote": None}
    assert body["errors"][0]["errorType"] == "Unauthorized"
    assert body["errors"][0]["message"] == "Not Authorized to access getNote on type Query"
    for mutation in ('updateNote(input: {id: $id, text: "stolen"})', "deleteNote(input: {id: $id})"):
        body = await users.as_user("bob", f"mutation($id: ID!) {{ {mutation} {{ text }} }}", {"id": note["id"]})
        assert body["errors"][0]["errorType"] == "Unauthorized", body
    body = await users.as_user("alice", "query($id: ID!) { getNote(id: $id) { text } }", {"id": note["id"]})
    assert body["data"] == {"getNote": {"text": "private"}}


async def test_the_owners_own_condition_failing_is_still_a_condition_failure(users):
    note = (await users.as_user("alice", CREATE_NOTE, {"t": "v1"}))["data"]["createNote"]
    body = await users.as_user(
        "alice", 'mutation($id: ID!) { updateNote(input: {id: $id, text: "v2"}, condition: {text: {eq: "v0"}}) '
        "{ text } }", {"id": note["id"]})
    assert body["errors"][0]["errorType"] == "ConditionalCheckFailedException"


async def test_a_row_cannot_be_created_in_someone_elses_name(users):
    body = await users.as_user("bob", 'mutation { createNote(input: {text: "x", owner: "sub-alice::alice"}) { id } }')
    assert body["data"] == {"createNote": None}
    assert body["errors"][0]["errorType"] == "Unauthorized"
    count = await users.client.runtime.resolvers.store.count("Note")
    assert count == 0


async def test_public_read_lets_an_api_key_list_but_not_write(users):
    await users.as_user("alice", CREATE_NOTE, {"t": "visible"})
    body = (await users.client.post("{ listNotes { items { text } } }")).json()
    assert body["data"]["listNotes"]["items"] == [{"text": "visible"}]
    body = (await users.client.post('mutation { createNote(input: {text: "anon"}) { id } }')).json()
    assert body["data"] == {"createNote": None}
    assert body["errors"][0]["errorType"] == "Unauthorized"


async def test_multiple_owner_fields_and_dynamic_groups(users):
    create = ('mutation($e: [String], $team: String) { createDoc(input: {title: "plan", editors: $e, team: $team}) '
              "{ id author editors } }")
    doc = (await users.as_user("alice", create, {"e": ["sub-bob::bob"], "team": "ops"}))["data"]["createDoc"]
    assert doc["author"] == "sub-alice::alice"
    update = 'mutation($id: ID!, $t: String!) { updateDoc(input: {id: $id, title: $t}) { title } }'
    # An editor may update (editors rule allows update) but not delete (it does not).
    assert (await users.as_user("bob", update, {"id": doc["id"], "t": "plan v2"}))["data"]["updateDoc"] == {
        "title": "plan v2"}
    body = await users.as_user("bob", "mutation($id: ID!) { deleteDoc(input: {id: $id}) { id } }", {"id": doc["id"]})
    assert body["errors"][0]["errorType"] == "Unauthorized"
    # The team named in the row may read it, not update it; other teams see nothing.
    listing = "{ listDocs { items { title } } }"
    assert (await users.as_user("carol", listing, groups=["ops"]))["data"]["listDocs"]["items"] == [
        {"title": "plan v2"}]
    assert (await users.as_user("dave", listing, groups=["sales"]))["data"]["listDocs"]["items"] == []
    body = await users.as_user("carol", update, {"id": doc["id"], "t": "hijack"}, groups=["ops"])
    assert body["errors"][0]["errorType"] == "Unauthorized"


async def test_relations_apply_the_related_models_rules(users):
    doc = (await users.as_user("alice", 'mutation { createDoc(input: {title: "d"}) { id } }'))["data"]["createDoc"]
    await users.as_user("alice", 'mutation($d: ID!) { createSection(input: {heading: "h", docSectionsId: $d}) '
                        "{ id } }", {"d": doc["id"]})
    query = "{ listSections { items { heading doc { title } } } }"
    mine = await users.as_user("alice", query)
    assert mine["data"]["listSections"]["items"] == [{"heading": "h", "doc": {"title": "d"}}]
    theirs = await users.as_user("bob", query)
    assert theirs["data"]["listSections"]["items"] == [{"heading": "h", "doc": None}]
    assert theirs["errors"][0]["path"] == ["listSections", "items", 0, "doc"]
    assert theirs["errors"][0]["errorType"] == "Unauthorized"
    nested = await users.as_user("bob", "query($d: ID!) { getDoc(id: $d) { title } }", {"d": doc["id"]})
    assert nested["data"] == {"getDoc": None}


async def test_an_operation_no_rule_grants_is_refused_for_everyone_but_the_group(users):
    body = await users.as_user("alice", 'mutation { createBoard(input: {name: "b"}) { id } }')
    assert body["errors"][0]["errorType"] == "Unauthorized"
    body = await users.as_user("root", 'mutation { createBoard(input: {name: "b"}) { id } }', groups=["Admin"])
    assert body["data"]["createBoard"]["id"]
    body = await users.as_user("alice", "{ listBoards { items { name } } }")
    assert body["data"]["listBoards"]["items"] == [{"name": "b"}]


async def test_a_mode_no_rule_names_is_refused_by_the_field_guard(users):
    # Section allows only user-pool users: an API key gets AppSync's field refusal.
    body = (await users.client.post("{ listSections { items { heading } } }")).json()
    assert body["data"] == {"listSections": None}
    assert body["errors"][0]["message"] == "Not Authorized to access listSections on type Query"


def test_auth_rules_that_cannot_work_are_schema_problems(tmp_path):
    from app.errors import ConfigError
    from app.schema_loader import load_schema_text

    bad = """
    type A @model @auth(rules: [{allow: owner, provider: apiKey}]) { id: ID! }
    type B @model @auth(rules: [{allow: groups}]) { id: ID! }
    type C @model @auth(rules: [{allow: owner, ownerField: "count"}]) { id: ID! count: Int }
    """
    with pytest.raises(ConfigError) as caught:
        load_schema_text(bad, "schema.graphql")
    messages = " | ".join(p.message for p in caught.value.problems)
    assert "cannot use provider 'apiKey'" in messages
    assert "needs groups or groupsField" in messages
    assert "C.count: an @auth owner/groups field must be String" in messages


FIELD_SCHEMA = """
type Profile @model @auth(rules: [{allow: private}]) {
  id: ID!
  name: String!
  salary: Int @auth(rules: [{allow: owner}, {allow: groups, groups: ["HR"]}])
}
"""


@pytest.fixture
async def profiles(make_client, database_url, idp):  # noqa: F811 - pytest injects the imported fixture
    pool = idp.base + "/pool"
    config = (
        '[auth]\ndefault = "AMAZON_COGNITO_USER_POOLS"\n'
        f'[auth.cognito_user_pools]\nissuer = "{pool}"\napp_id_client_regex = "{CLIENT}"\n'
        f'jwks_url = "{idp.jwks_url}"\n'
    )
    client = await make_client(database_url, schema=FIELD_SCHEMA, config=config)
    return Users(client, pool)


async def test_a_field_with_its_own_rules_is_read_only_by_those_they_name(profiles):
    create = 'mutation($s: Int) { createProfile(input: {name: "a", salary: $s}) { id owner salary } }'
    mine = (await profiles.as_user("alice", create, {"s": 100}))["data"]["createProfile"]
    assert mine["owner"] == "sub-alice::alice" and mine["salary"] == 100
    body = await profiles.as_user("bob", "{ listProfiles { items { name salary } } }")
    assert body["data"]["listProfiles"]["items"] == [{"name": "a", "salary": None}]
    assert body["errors"][0]["path"] == ["listProfiles", "items", 0, "salary"]
    assert body["errors"][0]["errorType"] == "Unauthorized"
    body = await profiles.as_user("hr", "{ listProfiles { items { salary } } }", groups=["HR"])
    assert body == {"data": {"listProfiles": {"items": [{"salary": 100}]}}}


async def test_a_field_with_its_own_rules_is_written_only_by_those_they_name(profiles):
    create = 'mutation { createProfile(input: {name: "a", salary: 100}) { id } }'
    profile = (await profiles.as_user("alice", create))["data"]["createProfile"]
    rename = 'mutation($id: ID!) { updateProfile(input: {id: $id, name: "renamed"}) { name } }'
    assert (await profiles.as_user("bob", rename, {"id": profile["id"]}))["data"]["updateProfile"] == {
        "name": "renamed"}
    raise_ = 'mutation($id: ID!) { updateProfile(input: {id: $id, salary: 999}) { name } }'
    body = await profiles.as_user("bob", raise_, {"id": profile["id"]})
    assert body["errors"][0]["errorType"] == "Unauthorized"
    body = await profiles.as_user("hr", "query($id: ID!) { getProfile(id: $id) { salary } }", {"id": profile["id"]},
                                  groups=["HR"])
    assert body["data"]["getProfile"] == {"salary": 100}


NESTED_SCHEMA = """
type Address { city: String! geo: Geo }
type Geo { lat: Float }
type Shop @model @auth(rules: [{allow: private}]) {
  id: ID!
  address: Address
  labels: [Label] @manyToMany(relationName: "ShopLabel")
}
type Label @model @auth(rules: [{allow: private}]) { id: ID! name: String! shops: [Shop] @manyToMany(relationName: "ShopLabel") }
"""


async def test_types_nested_in_a_model_and_its_join_model_take_its_rules_modes(make_client, database_url,
                                                                               idp):  # noqa: F811
    pool = idp.base + "/pool"
    config = (
        '[auth]\ndefault = "API_KEY"\nadditional = ["AMAZON_COGNITO_USER_POOLS"]\n'
        f'[auth.cognito_user_pools]\nissuer = "{pool}"\napp_id_client_regex = "{CLIENT}"\n'
        f'jwks_url = "{idp.jwks_url}"\n'
    )
    users = Users(await make_client(database_url, schema=NESTED_SCHEMA, config=config), pool)
    shop = (await users.as_user("alice", 'mutation { createShop(input: {address: {city: "Oban", geo: {lat: 56.4}}}) '
                                "{ id address { city geo { lat } } } }"))["data"]["createShop"]
    assert shop["address"] == {"city": "Oban", "geo": {"lat": 56.4}}
    label = (await users.as_user("alice", 'mutation { createLabel(input: {name: "fish"}) { id } }'))["data"]
    link = await users.as_user("alice", "mutation($s: ID!, $l: ID!) { createShopLabel(input: {shopId: $s, labelId: $l}) "
                               "{ id } }", {"s": shop["id"], "l": label["createLabel"]["id"]})
    assert link["data"]["createShopLabel"]["id"], link
    body = await users.as_user("bob", "{ listShops { items { labels { items { label { name } } } } } }")
    assert body == {"data": {"listShops": {"items": [{"labels": {"items": [{"label": {"name": "fish"}}]}}]}}}
    body = (await users.client.post("{ listShopLabels { items { id } } }")).json()
    assert body["errors"][0]["errorType"] == "Unauthorized"
