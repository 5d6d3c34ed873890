"""Errors as RFC 9457 problem details (``application/problem+json``).

The ``detail`` of a problem is the message the CLI prints for the same error, so a person
reads the same words in a terminal, a browser and an API client. What a status means:

- 400 bad input (``ConfigError``: a workflow that does not validate, an unknown input);
- 401 no token, or a wrong one; 404 no such run; 409 the run or task is not in a state that
  allows it (decided already, executing, already ended); 422 a body or query that does not
  parse; 503 the store failed; 500 a bug, logged with its traceback.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, JsonValue
from starlette.exceptions import HTTPException

from podium import ConfigError, PodiumError, RunNotFoundError, RunStateError, StoreError
from podium.server.auth import Unauthorized

__all__ = ["PROBLEM_RESPONSES", "Problem", "install_problem_handlers", "problem_response"]

logger = logging.getLogger(__name__)

MEDIA_TYPE: Final = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong, for a person and for a program."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = "about:blank"
    title: str
    """The HTTP status phrase."""
    status: int
    detail: str
    """What is wrong, where, and what to do (the CLI's message)."""
    instance: str | None = None
    """The path of the request."""
    errors: list[dict[str, JsonValue]] | None = None
    """For 422: each field that did not parse (``loc``, ``msg``)."""


PROBLEM_RESPONSES: Final[dict[int | str, dict[str, object]]] = {
    status: {
        "model": Problem,
        "content": {MEDIA_TYPE: {}},
        "description": HTTPStatus(status).phrase,
    }
    for status in (400, 401, 404, 409, 422)
}
"""The error answers every authenticated route may give, for the OpenAPI schema."""


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    errors: list[dict[str, JsonValue]] | None = None,
) -> JSONResponse:
    """A problem-details response with ``status``."""
    problem = Problem(
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=instance,
        errors=errors,
    )
    headers = {"WWW-Authenticate": "Bearer"} if status == HTTPStatus.UNAUTHORIZED else None
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def status_of(error: PodiumError) -> int:
    """The HTTP status that says what the caller should do about ``error``."""
    if isinstance(error, RunNotFoundError):
        return HTTPStatus.NOT_FOUND
    if isinstance(error, RunStateError):
        return HTTPStatus.CONFLICT
    if isinstance(error, ConfigError):
        return HTTPStatus.BAD_REQUEST
    if isinstance(error, StoreError):
        return HTTPStatus.SERVICE_UNAVAILABLE
    return HTTPStatus.INTERNAL_SERVER_ERROR


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with problem details."""

    async def podium_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PodiumError)
        status = status_of(exc)
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            logger.error("%s %s failed: %s", request.method, request.url.path, exc)
        return problem_response(status, str(exc), instance=request.url.path)

    async def unauthorized(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Unauthorized)
        return problem_response(401, exc.detail, instance=request.url.path)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors: list[dict[str, JsonValue]] = [
            {"loc": [str(part) for part in e["loc"]], "msg": str(e["msg"])} for e in exc.errors()
        ]
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)  # type: ignore[arg-type]  # loc is a list of str
        return problem_response(422, f"the request does not parse: {where}",
                                instance=request.url.path, errors=errors)  # fmt: skip

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return problem_response(exc.status_code, str(exc.detail), instance=request.url.path)

    async def bug(request: Request, exc: Exception) -> JSONResponse:
        logger.error("%s %s crashed", request.method, request.url.path, exc_info=exc)
        detail = "the server failed to answer (a bug: its log has the traceback)"
        return problem_response(500, detail, instance=request.url.path)

    app.add_exception_handler(PodiumError, podium_error)
    app.add_exception_handler(Unauthorized, unauthorized)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, bug)
