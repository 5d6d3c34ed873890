"""Database URLs: telling one from a SQLite file path, and naming one without its password."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit, urlunsplit

__all__ = ["is_database_url", "without_password"]

_SCHEMES: Final = ("postgresql://", "postgres://")


def is_database_url(location: str) -> bool:
    """Whether ``location`` names a PostgreSQL database (``postgresql://...``), not a file."""
    return location.startswith(_SCHEMES)


def without_password(location: str) -> str:
    """``location`` (a URL or a libpq key/value string) with any password masked."""
    if not is_database_url(location):
        return re.sub(r"password\s*=\s*\S+", "password=***", location)
    parts = urlsplit(location)
    if parts.password is None:
        return location
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
