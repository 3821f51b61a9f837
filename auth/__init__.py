"""Authentication and authorization. Until the auth modes land, every request needs an API key."""
