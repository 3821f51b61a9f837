"""Amplify's relationship forms: implicit keys, ``fields``, ``references``, ``@hasOne``."""

from __future__ import annotations

SCHEMA = """
type Blog @model {
  id: ID!
  name: String!
  posts: [Post] @hasMany
  settings: BlogSettings @hasOne
}
type Post @model {
  id: ID!
  title: String!
  blog: Blog @belongsTo
  authorId: ID
  author: Author @belongsTo(fields: ["authorId"])
}
type Author @model {
  id: ID!
  name: String!
  profile: Profile @hasOne(references: ["authorId"])
}
type Profile @model {
  id: ID!
  authorId: ID
  bio: String
}
type BlogSettings @model {
  id: ID!
  theme: String
}
"""


async def test_implicit_keys_link_has_many_and_belongs_to_both_ways(make_client, database_url):
    client = await make_client(database_url, schema=SCHEMA)
    fields = set(client.runtime.loaded.schema.type_map["Post"].fields)
    assert "blogPostsId" in fields  # Amplify's implicit key: <parent><Field>Id
    blog = (await client.data('mutation { createBlog(input: {name: "B"}) { id } }'))["createBlog"]["id"]
    await client.data('mutation($b: ID!) { createPost(input: {title: "P1", blogPostsId: $b}) { id } }', {"b": blog})
    data = await client.data(
        "query($b: ID!) { getBlog(id: $b) { posts { items { title blog { name } } } } }", {"b": blog}
    )
    assert data["getBlog"]["posts"]["items"] == [{"title": "P1", "blog": {"name": "B"}}]


async def test_has_one_with_an_implicit_key_on_the_parent(make_client, database_url):
    client = await make_client(database_url, schema=SCHEMA)
    assert "blogSettingsId" in client.runtime.loaded.schema.type_map["Blog"].fields
    settings = (await client.data('mutation { createBlogSettings(input: {theme: "dark"}) { id } }'))[
        "createBlogSettings"]["id"]
    blog = (await client.data('mutation($s: ID!) { createBlog(input: {name: "B", blogSettingsId: $s}) { id } }',
                              {"s": settings}))["createBlog"]["id"]
    data = await client.data("query($b: ID!) { getBlog(id: $b) { settings { theme } } }", {"b": blog})
    assert data["getBlog"]["settings"] == {"theme": "dark"}


async def test_belongs_to_with_fields_and_has_one_with_references(make_client, database_url):
    client = await make_client(database_url, schema=SCHEMA)
    author = (await client.data('mutation { createAuthor(input: {name: "A"}) { id } }'))["createAuthor"]["id"]
    await client.data('mutation($a: ID!) { createProfile(input: {authorId: $a, bio: "hi"}) { id } }', {"a": author})
    await client.data('mutation($a: ID!) { createPost(input: {title: "T", authorId: $a}) { id } }', {"a": author})
    data = await client.data("{ listPosts { items { author { name profile { bio } } } } }")
    assert data["listPosts"]["items"] == [{"author": {"name": "A", "profile": {"bio": "hi"}}}]
