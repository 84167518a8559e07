"""Where the settings live: a SQLite path or a PostgreSQL URL, told apart in one place, and a
URL's secrets kept out of everything shown (errors, logs, reprs)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

POSTGRES_SCHEMES = ("postgresql", "postgres")

# Query parameters whose value is secret: libpq's password and sslpassword, and anything alike.
_SECRET_PARAMETER = re.compile(r"pass|secret|token|key", re.IGNORECASE)
# `scheme:` at the start of a value, with the slashes that make it look like a URL.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):(/*)")


def _redacted(raw: str) -> tuple[str, list[str]]:
    """`raw` redacted, and the pieces hidden. Worked out from the string itself, not by parsing
    the URL, which a password holding `#`, `/`, `?` or `@` derails (see `_userinfo_end`)."""
    scheme, slashes, rest = raw.strip().partition("://")
    if not slashes:
        return raw.strip(), []
    hidden = []
    end = _userinfo_end(rest)
    if end is None:  # no sensible reading: hide it all
        return f"{scheme}://***", [rest]
    userinfo, at = "", ""
    if end >= 0:
        userinfo, at, rest = rest[:end], "@", rest[end + 1:]
        user, colon, password = userinfo.partition(":")
        if colon:
            hidden.append(password)
            userinfo = f"{user}:***"
    place, question, query = rest.partition("?")
    if question:
        parameters = []
        for parameter in query.split("&"):
            name, equals, value = parameter.partition("=")
            if not equals:  # not a parameter: maybe the rest of a value holding a raw `&`
                hidden.append(parameter)
                parameter = "***"
            elif _SECRET_PARAMETER.search(unquote(name)):
                hidden.append(value)
                parameter = f"{name}=***"
            parameters.append(parameter)
        query = "&".join(parameters)
    return f"{scheme}://{userinfo}{at}{place}{question}{query}", [h for h in hidden if h]


# host[:port], a bracketed IPv6 address or nothing (a socket folder in ?host=), comma-separated.
_HOST = r"(?:[\w.~%-]*|\[[\w:.%]*\])(?::\d*)?"
_AUTHORITY = re.compile(rf"{_HOST}(?:,{_HOST})*(?=[/?]|$)")


def _userinfo_end(rest: str) -> int | None:
    """Where the userinfo of `rest` (a URL after `://`) ends: the last `@` followed by hosts
    and preceded by a user name without `/`, `?` or `#` (an `@` after those is in a password or
    the query); -1 when there is no `@`; None when no `@` can be the one."""
    if "@" not in rest:
        return -1
    at = len(rest)
    while (at := rest.rfind("@", 0, at)) >= 0:
        user = rest[:at].partition(":")[0]
        if _AUTHORITY.match(rest, at + 1) and not any(c in user for c in "/?#@"):
            return at
    return None


@dataclass(frozen=True)
class PostgresUrl:
    """A postgresql:// (or postgres://, any case) URL whose str() and repr() never show the
    password or a secret query parameter."""

    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        value = self.secret.strip()
        match = _SCHEME.match(value)
        if not match or match[1].lower() not in POSTGRES_SCHEMES or not match[2].startswith("//"):
            raise ValueError(f"{_scheme_only(value)} is not a postgresql:// URL")
        # asyncpg knows the schemes in lower case only.
        object.__setattr__(self, "secret", match[1].lower() + value[match.end(1):])

    @property
    def redacted(self) -> str:
        return _redacted(self.secret)[0]

    def scrub(self, text: str) -> str:
        """`text` (an error from a driver, ...) with every secret of this URL replaced by ***,
        and every piece of one between the characters a URL parser splits at (a driver that
        misread the URL may quote such a piece as a port or a query field)."""
        redacted, hidden = _redacted(self.secret)
        pieces = {p for h in hidden for p in re.split(r"[#/?@:&=]", h) if len(p) >= 3}
        text = text.replace(self.secret, redacted)
        for secret in sorted({*hidden, *map(unquote, hidden), *pieces}, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def __str__(self) -> str:
        return self.redacted

    def __repr__(self) -> str:
        return f"PostgresUrl({self.redacted!r})"


DatabaseTarget = PostgresUrl | Path


def _scheme_only(value: str) -> str:
    """A value that is not a usable URL, for an error message: its scheme, nothing after it."""
    match = _SCHEME.match(value.strip())
    return f"{match[0]}…" if match else "the value (not shown)"


def parse_target(value: str | os.PathLike[str] | PostgresUrl) -> DatabaseTarget:
    """`postgresql://...` or `postgres://...` (any case) selects PostgreSQL; a path, `sqlite:PATH`
    or `sqlite://PATH` selects SQLite. Any other URL (`mysql://`, `postgresql+asyncpg://`, ...)
    is a ValueError whose message never shows a password: it is never taken for a file name."""
    if isinstance(value, PostgresUrl):
        return value
    if isinstance(value, str):
        value = value.strip()
        match = _SCHEME.match(value)
        scheme = match[1].lower() if match else None
        if scheme == "sqlite":
            value = value[len("sqlite:"):]
            value = value[2:] if value.startswith("//") else value
        elif scheme in POSTGRES_SCHEMES and match[2].startswith("//"):  # type: ignore[index]
            return PostgresUrl(value)
        elif match and (match[2] or scheme.startswith("postgres")):  # type: ignore[union-attr]
            raise ValueError(
                f"{_scheme_only(value)} is not a database bardbot can use; give"
                " postgresql://user@host/db (bardbot brings its own driver), a SQLite file's"
                " path or sqlite:PATH"
            )
        if not value:
            raise ValueError("no settings database given: a SQLite file's path or a URL")
    return Path(value).expanduser()
