"""Accounts: organisations, staff and their roles, passwords (argon2id), access and refresh tokens,
staff login with rate limits and TOTP, queues and who serves them, widget keys."""
