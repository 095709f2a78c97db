"""Loket: self-hosted video assistance. This package is the shell that assembles the domains."""

__version__ = "0.1.0"
