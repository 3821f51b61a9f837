"""Resolvers: the AppSync-shaped context, unit and pipeline resolvers, and the @model transformer."""
