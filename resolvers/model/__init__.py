"""Amplify's @model transformer over SQL: specs from SDL, generated SDL, the store, the resolvers."""
