"""Every setting is declared once (api/settings.py): its variable is honoured, listed by
``activity-console serve --help`` with its default, and an argument wins over it."""

from __future__ import annotations

import contextlib
import io

import pytest

from api import cli
from api.settings import ENV_VARS, Settings, load_settings
from collector.errors import ConfigurationError


def _serve_help() -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    return out.getvalue()


def test_serve_help_lists_every_variable_with_its_description():
    text = " ".join(_serve_help().split())
    for name, field in Settings.model_fields.items():
        assert ENV_VARS[name] in text, name
        assert " ".join(field.description.split())[:40] in text, name


def test_every_variable_is_read_and_an_argument_wins():
    probe = {"http_port": ("9123", 9123), "max_request_bytes": ("2097152", 2 * 1024 * 1024),
             "allowed_origins": ("https://a.example, https://b.example", ["https://a.example", "https://b.example"])}  # fmt: skip
    for name, (raw, parsed) in probe.items():
        assert getattr(load_settings(environ={ENV_VARS[name]: raw}), name) == parsed
    assert load_settings({"http_port": 7000}, environ={"ACTIVITY_HTTP_PORT": "9123"}).http_port == 7000
    assert load_settings(environ={"ACTIVITY_HTTP_PORT": ""}).http_port == Settings.model_fields["http_port"].default
    assert len(set(ENV_VARS.values())) == len(ENV_VARS), "two settings share a variable"


def test_an_invalid_variable_is_named_and_its_value_not_repeated():
    with pytest.raises(ConfigurationError) as raised:
        load_settings(environ={"ACTIVITY_JWT_SECRET": "too-short-secret", "ACTIVITY_HTTP_PORT": "99999"})
    message = str(raised.value)
    assert "ACTIVITY_JWT_SECRET" in message and "ACTIVITY_HTTP_PORT" in message
    assert "too-short-secret" not in message
