"""Accounts: users, roles, password hashing, login attempts and lockouts (used by the web and the CLI)."""
