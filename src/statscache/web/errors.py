"""Every error is JSON ``{"error": ..., "parameter": ...}``; input never causes a 5xx."""

from __future__ import annotations

import logging

from flask import Flask, Response
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from statscache.web.formats import NotAcceptable, error
from statscache.web.params import BadParameter
from statscache.web.state import UnknownStatistic

log = logging.getLogger(__name__)


def http_error(problem: HTTPException) -> Response:
    """An unknown URL or a method not allowed, as JSON (with ``Allow`` for a 405)."""
    response = error(problem.code or 500, problem.description or problem.name)
    if problem.code == 405 and problem.valid_methods:  # type: ignore[attr-defined]
        response.headers["Allow"] = ", ".join(problem.valid_methods)  # type: ignore[attr-defined]
    return response


def register(app: Flask) -> None:
    """Install the JSON error handlers on ``app``."""

    @app.errorhandler(BadParameter)
    def bad_parameter(problem: BadParameter) -> Response:
        return error(400, problem.message, problem.parameter)

    @app.errorhandler(UnknownStatistic)
    def unknown(problem: UnknownStatistic) -> Response:
        return error(404, f"no statistic {problem.args[0]!r}; GET /api/ lists them", "ident")

    @app.errorhandler(NotAcceptable)
    def not_acceptable(_: NotAcceptable) -> Response:
        return error(
            406, "no acceptable format: offer application/json, application/javascript, text/csv or image/svg+xml"
        )

    app.register_error_handler(HTTPException, http_error)

    @app.errorhandler(SQLAlchemyError)
    def database(problem: SQLAlchemyError) -> Response:
        log.error("database error: %s", problem)
        return error(503, "the statistics database is unavailable; try again shortly")
