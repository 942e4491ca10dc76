"""schemathesis runs the OpenAPI description against the live app: no 5xx, every response conforms."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from helpers import replay_files
from statscache.web import create_app

CORPUS = Path(__file__).parent / "corpus"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SCRATCH = Path(tempfile.mkdtemp(prefix="statscache-openapi-"))


def live_app() -> Flask:
    """The app over a database holding the corpus (built when the module is collected)."""
    url = f"sqlite:///{SCRATCH / 'api.db'}"
    store, _ = replay_files(url, [CORPUS / "fedmsg.jsonl", CORPUS / "fedora_messaging.jsonl"])
    store.close()
    return create_app(url, STREAM_LIFETIME=0.3, STREAM_POLL_INTERVAL=0.1)  # streams end quickly here


APP = live_app()
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def remove_scratch() -> Iterator[None]:
    yield
    APP.extensions["statscache"].store.close()
    shutil.rmtree(SCRATCH, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_description(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)
