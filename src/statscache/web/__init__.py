"""The web app: a Flask application factory serving the statistics.

Configuration (:class:`statscache.config.WebConfig`) comes from the arguments, then
``STATSCACHE_*`` environment variables (``STATSCACHE_DB_URL``,
``STATSCACHE_MAX_ROWS_PER_PAGE``, …; see docs/configuration.md). For production, run it
under gunicorn::

    gunicorn --workers 4 --bind 127.0.0.1:8000 'statscache.web:create_app()'
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from statscache.config import WebConfig
from statscache.plugin import discover
from statscache.store import Store, resolve_url
from statscache.web import api, errors, pages
from statscache.web.state import State


def create_app(db_url: str | None = None, **config: Any) -> Flask:
    """Build the app for the database ``db_url`` (else ``$STATSCACHE_DB_URL``, else the default)."""
    app = Flask(__name__)
    app.config.from_mapping(DB_URL=resolve_url(db_url))
    app.config.from_prefixed_env("STATSCACHE")
    if db_url is not None:
        app.config["DB_URL"] = db_url
    app.config.update(config)
    settings = WebConfig.from_mapping(dict(app.config))
    plugins = {cls.ident: cls for cls in discover()}
    app.extensions["statscache"] = State(Store(settings.db_url), plugins, settings)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.register_blueprint(api.blueprint)
    pages.register(app)
    errors.register(app)
    return app
