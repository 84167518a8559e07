"""BARDBOT_DB / --db values: which backend they select, which are refused, and that no form of
a PostgreSQL URL ever shows its password (issue 15, N3 and N4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bardbot.config import ConfigError, load_config
from bardbot.database_url import PostgresUrl, parse_target
from bardbot.settings import SettingsError, open_store
from hypothesis import assume, given
from hypothesis import strategies as st

SECRET = "Zq7#Wv/Kp?Xy@Rt:Mn"  # every character a URL parser stops at, unencoded


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://bard:{SECRET}@db.example:5432/bard",
        f"postgresql://bard:{SECRET}@db.example/bard?sslmode=require",
        f"postgres://bard:{SECRET}@[::1]:5432/bard",
        "postgresql://bard@db.example/bard?sslmode=require&password=" + SECRET,
        "postgresql://bard@db.example/bard?sslpassword=" + SECRET,
        "postgresql://bard@db.example/bard?SSLPassword=" + SECRET.replace("&", ""),
        f"postgresql://{SECRET}@db.example/bard",  # a user name with / ? # @: all hidden
        f"postgresql://bard:{SECRET}@db.example/bard?password={SECRET}&sslpassword={SECRET}",
    ],
)
def test_a_password_with_any_characters_is_never_shown(url):
    target = parse_target(url)
    assert isinstance(target, PostgresUrl)
    shown = f"{target} {target!r} {[target]} {target.redacted}"
    for piece in ("Zq7", "Wv", "Kp", "Xy", "Rt", "Mn"):
        assert piece not in shown


def test_what_is_not_secret_is_still_shown():
    url = parse_target("postgresql://bard:pw@db.example:5432/bard?sslmode=require&passfile=x")
    assert str(url) == "postgresql://bard:***@db.example:5432/bard?sslmode=require&passfile=***"
    assert str(parse_target("postgresql://bard@db/bard")) == "postgresql://bard@db/bard"
    assert str(parse_target(f"postgres://bard:{SECRET}@[::1]:5432,h2:5433/bard")) == (
        "postgres://bard:***@[::1]:5432,h2:5433/bard")
    assert str(parse_target(f"postgresql://bard@db/bard?password={SECRET}")) == (
        "postgresql://bard@db/bard?password=***")
    # An @ in the query with no user before the host: no safe reading, all hidden.
    assert str(parse_target(f"postgresql://db/bard?password={SECRET}")) == "postgresql://***"
    assert str(parse_target("postgresql:///bard?host=/run/pg")) == "postgresql:///bard?host=/run/pg"


@given(st.text(st.characters(codec="ascii", exclude_categories=["Cc"]), min_size=6))
def test_any_ascii_password_is_hidden(password):
    # A password that is a piece of what is shown anyway ("postgr") cannot be looked for.
    assume(password not in "postgresql://bard:***@db.example/bard")
    url = parse_target(f"postgresql://bard:{password}@db.example/bard")
    assert password not in str(url) and str(url).startswith("postgresql://bard:***@")


def test_a_driver_error_quoting_the_url_is_scrubbed():
    url = PostgresUrl(f"postgresql://bard:{SECRET}@db.example/bard?sslpassword=k%23ey")
    text = f"invalid DSN {url.secret!r}: bad port 'Zq7#Wv' near {SECRET} and k#ey"
    scrubbed = url.scrub(text)
    for piece in (SECRET, "Zq7#Wv", "k%23ey", "k#ey"):
        assert piece not in scrubbed


async def test_opening_a_url_with_an_unencoded_password_never_shows_it(caplog):
    with pytest.raises(SettingsError) as info:
        await open_store(f"postgresql://bard:{SECRET}@127.0.0.1:1/bardbot")
    for piece in ("Zq7", "Wv/Kp", "Xy@Rt"):
        assert piece not in str(info.value) + caplog.text


@pytest.mark.parametrize(
    "value",
    ["POSTGRESQL://bard:SECRET@127.0.0.1:1/bardbot", "Postgres://bard:SECRET@h/db",
     "  postgresql://bard:SECRET@h/db\n"],
)
def test_the_scheme_is_matched_in_any_case_and_spaces_are_stripped(value):
    url = parse_target(value)
    assert isinstance(url, PostgresUrl)
    assert url.secret.startswith(("postgresql://bard:SECRET@", "postgres://bard:SECRET@"))
    assert load_config(["--db", value], {}).db_path == url


@pytest.mark.parametrize(
    "value",
    ["postgresql+asyncpg://bard:SECRET@h/db", "mysql://bard:SECRET@h/db", "PostgreSQL:/h/db",
     "redis://:SECRET@h", "postgresql:bard:SECRET@h"],
)
def test_any_other_url_is_refused_in_one_line_never_taken_for_a_file(value, tmp_path,
                                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="not a database bardbot can use") as info:
        parse_target(value)
    with pytest.raises(ConfigError, match=r"^--db / BARDBOT_DB: .*postgresql://user@host/db"):
        load_config([], {"BARDBOT_DB": value})
    assert "SECRET" not in str(info.value) and "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_sqlite_forms_and_plain_paths():
    assert parse_target("sqlite:/x/s.db") == Path("/x/s.db")
    assert parse_target("SQLITE:///x/s.db") == Path("/x/s.db")
    assert parse_target(" s.db ") == Path("s.db")
    assert parse_target("notes:v2.db") == Path("notes:v2.db")  # a file name with a colon
    with pytest.raises(ValueError, match="no settings database given"):
        parse_target("sqlite:")


def test_an_uppercase_url_never_becomes_a_folder_holding_the_password(tmp_path, monkeypatch,
                                                                       capsys):
    """N4 as reported: the bot started on ./POSTGRESQL:/bard:PASSWORD@host:port/... instead."""
    import bardbot.__main__ as entry

    from tests.bot.test_guild_settings import fake_models

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", "not-a-real-token")
    monkeypatch.setenv("BARDBOT_DB", "POSTGRESQL://bard:SECRET@127.0.0.1:1/bardbot")
    fake_models(monkeypatch)
    assert entry.main([]) == 1
    err = capsys.readouterr().err
    assert "cannot connect to the settings database postgresql://bard:***@127.0.0.1:1/" in err
    assert "SECRET" not in err
    assert list(tmp_path.rglob("*SECRET*")) == [] and list(tmp_path.iterdir()) == []
