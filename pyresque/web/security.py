"""The dashboard's safety rules, applied to every request of its blueprint.

* **Authentication**: with an :class:`Auth`, every request (static files
  included) needs HTTP basic credentials, else 401 with ``WWW-Authenticate``.
* **CSRF**: every state-changing request is a POST whose form carries
  ``csrf_token``: an HMAC of a random per-browser nonce (an HttpOnly,
  SameSite=Strict cookie) and the user. Missing or wrong: 400, nothing done.
* **Read-only**: every POST is refused with 403 before anything else runs.
* **Headers**: a strict Content-Security-Policy (no inline script or style),
  ``nosniff``, no framing, no referrer leaking names across sites.
* **Errors**: bad input and races (:class:`ItemChanged`) get a clear message
  page (or JSON under ``/api``), never a 500.

Messages after an action travel in a signed cookie (never in the URL, so a
link cannot make the dashboard say something it did not do).
"""

from __future__ import annotations

import hashlib
import json
import hmac
import re
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from flask import Blueprint, Response, g, jsonify, make_response, redirect, render_template, request, url_for
import redis as redis_py
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.exceptions import HTTPException

from pyresque.client import Resque
from pyresque.errors import ConnectionFailed, ItemChanged, ResqueError
from pyresque.connection import shown
from pyresque.failed_admin import FailedAdmin
from pyresque.web.params import link_args

CSRF_FIELD = "csrf_token"
CSRF_COOKIE = "pyresque_csrf"
FLASH_COOKIE = "pyresque_flash"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
_NONCE = re.compile(r"\A[0-9a-f]{32}\Z")
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_FLASH_MAX = 500


@dataclass(frozen=True)
class Auth:
    """HTTP basic credentials the dashboard requires."""

    user: str
    password: str = field(repr=False)

    @classmethod
    def from_file(cls, path: str) -> "Auth":
        """``user:password`` from the first non-blank line of ``path``."""
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.rstrip("\r\n")
                if line.strip():
                    user, sep, password = line.partition(":")
                    if not sep or not user or not password:
                        raise ValueError(f"{path}: the first line must be user:password")
                    return cls(user, password)
        raise ValueError(f"{path} is empty; write user:password in it")

    def check(self, user: str | None, password: str | None) -> bool:
        ok_user = hmac.compare_digest((user or "").encode(), self.user.encode())
        ok_password = hmac.compare_digest((password or "").encode(), self.password.encode())
        return ok_user and ok_password


@dataclass
class WebState:
    """What every view of one mounted dashboard shares."""

    resque: Resque
    read_only: bool
    auth: Auth | None
    secret: bytes
    name: str = "pyresque"
    schedule_file: str | None = None  # the static schedule to show (resque-scheduler 5 keeps it out of Redis)
    scheduler_lock_prefix: str = ""   # RESQUE_SCHEDULER_MASTER_LOCK_PREFIX, to name the master

    @cached_property
    def failed(self) -> FailedAdmin:
        r = self.resque
        return FailedAdmin(r.redis, r.layout, r.failure_backend, indexed=True)

    def token_for(self, nonce: str, user: str) -> str:
        return hmac.new(self.secret, f"{nonce}\0{user}".encode(), hashlib.sha256).hexdigest()

    @cached_property
    def flash_signer(self) -> URLSafeSerializer:
        return URLSafeSerializer(self.secret, salt="pyresque-flash")


def state() -> WebState:
    return g.pyresque_web


def install(bp: Blueprint, web: WebState) -> None:
    """Attach the rules above, the template helpers and the error pages to ``bp``."""
    web.name = bp.name

    @bp.before_request
    def _guard() -> Any:
        g.pyresque_web = web
        user = ""
        if web.auth is not None:
            creds = request.authorization
            if creds is None or not web.auth.check(creds.username, creds.password):
                return _unauthorized()
            user = web.auth.user
        nonce = request.cookies.get(CSRF_COOKIE, "")
        g.new_nonce = None
        if not _NONCE.match(nonce):
            nonce = g.new_nonce = secrets.token_hex(16)
        g.csrf_token = web.token_for(nonce, user)
        g.flash = _read_flash(web)
        if request.method not in _SAFE_METHODS:
            if web.read_only:
                return _problem(403, "This dashboard is read-only: actions are disabled. Nothing was changed.")
            sent = request.form.get(CSRF_FIELD, "")
            if g.new_nonce is not None or not hmac.compare_digest(sent.encode(), g.csrf_token.encode()):
                return _problem(400, "The form's security token is missing or wrong (the page may be old, "
                                     "or the request came from another site). Nothing was changed: reload "
                                     "the page and try again.")
        return None

    @bp.after_request
    def _headers(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "same-origin"
        if request.endpoint != f"{web.name}.static":
            resp.headers["Cache-Control"] = "no-store"
        path = _cookie_path(web)
        if getattr(g, "new_nonce", None):
            resp.set_cookie(CSRF_COOKIE, g.new_nonce, httponly=True, samesite="Strict", path=path,
                            secure=request.is_secure)
        if getattr(g, "flash", None) and request.method in _SAFE_METHODS:
            resp.delete_cookie(FLASH_COOKIE, path=path)
        return resp

    @bp.context_processor
    def _helpers() -> dict[str, Any]:
        def u(endpoint: str, **values: Any) -> str:
            return url_for(f"{web.name}.{endpoint}", **link_args(values))

        return {"u": u, "csrf_token": lambda: getattr(g, "csrf_token", ""), "read_only": web.read_only,
                "flash": getattr(g, "flash", None), "csrf_field": CSRF_FIELD,
                "form_fields": lambda fields: link_args(fields).items()}

    @bp.record_once
    def _show_names(setup: Any) -> None:
        # A name that is not UTF-8 is text with surrogate escapes (as_name), which no
        # page can carry: every value a template prints is shown with U+FFFD for those
        # bytes instead (links and form fields carry them through link_args). Only such
        # text changes, so a host app that mounts the blueprint sees no difference.
        env = setup.app.jinja_env
        before = env.finalize
        if before is not None and hasattr(before, "jinja_pass_arg"):
            return  # the host's finalize wants a context we cannot pass on; leave it be

        def finalize(value: Any) -> Any:
            if before is not None:
                value = before(value)
            return shown(value) if type(value) is str else value

        env.finalize = finalize

    bp.add_app_template_filter(_as_json, "pyresque_json")
    bp.add_app_template_filter(_duration, "pyresque_age")

    @bp.errorhandler(ItemChanged)
    def _changed(exc: ItemChanged) -> Any:
        return _problem(409, str(exc))

    @bp.errorhandler(UnicodeEncodeError)
    def _strict_client(exc: UnicodeEncodeError) -> Any:
        # Only a redis.Redis made elsewhere gets here: pyresque's own send such names as their bytes.
        if exc.reason != "surrogates not allowed":
            raise exc  # not a name's bytes: a bug, reported as one
        return _problem(400, "This name is not valid UTF-8, and the Redis client the dashboard was given "
                             "cannot send it as its bytes: make that client with "
                             "encoding_errors='surrogateescape'. Nothing was changed.")

    @bp.errorhandler(ConnectionFailed)
    def _down(exc: ConnectionFailed) -> Any:
        return _problem(503, str(exc))

    @bp.errorhandler(redis_py.ConnectionError)
    @bp.errorhandler(redis_py.TimeoutError)
    def _unreachable(exc: Exception) -> Any:
        reason = str(exc).rstrip(".")
        return _problem(503, f"Cannot reach Redis: {reason}. Nothing was changed; try again when it is back.")

    @bp.errorhandler(redis_py.ResponseError)
    def _refused(exc: Exception) -> Any:
        # e.g. WRONGTYPE: a key of the keyspace is not what Resque's layout says (see `pyresque check`).
        return _problem(409, f"Redis refused the request: {exc}. Run `pyresque check` to find the key that "
                             "does not fit Resque's layout.")

    @bp.errorhandler(ResqueError)
    def _bad(exc: ResqueError) -> Any:
        return _problem(400, str(exc))

    @bp.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        return _problem(exc.code or 500, exc.description or exc.name)


def _as_json(value: Any, indent: int | None = None) -> str:
    """A value as JSON text for display (escaped by Jinja like any other text)."""
    try:
        return json.dumps(value, ensure_ascii=False, indent=indent)
    except (TypeError, ValueError):
        return repr(value)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _cookie_path(web: WebState) -> str:
    return url_for(f"{web.name}.overview.index")


def _unauthorized() -> Response:
    resp = make_response("Authentication required.\n", 401)
    resp.headers["WWW-Authenticate"] = 'Basic realm="pyresque", charset="UTF-8"'
    resp.mimetype = "text/plain"
    return resp


def _read_flash(web: WebState) -> str | None:
    cookie = request.cookies.get(FLASH_COOKIE)
    if not cookie:
        return None
    try:
        message = web.flash_signer.loads(cookie)
    except BadSignature:
        return None
    return message if isinstance(message, str) else None


def wants_json() -> bool:
    return "/api/" in request.path or request.path.endswith("/api")


def _problem(code: int, message: str) -> Response:
    if wants_json():
        resp = jsonify({"error": message, "status": code})
        resp.status_code = code
        return resp
    return make_response(render_template("pyresque/error.html", code=code, message=message), code)


def done(message: str, endpoint: str, **values: Any) -> Response:
    """After an action: a 303 to ``endpoint`` carrying ``message`` in a signed cookie."""
    web = state()
    resp = redirect(url_for(f"{web.name}.{endpoint}", **link_args(values)), code=303)
    message = shown(message)  # it is for display; a name in it may hold bytes that are not UTF-8
    if len(message) > _FLASH_MAX:  # names can be long; a cookie over 4 KB would be dropped
        message = message[:_FLASH_MAX] + "…"
    resp.set_cookie(FLASH_COOKIE, web.flash_signer.dumps(message), httponly=True, samesite="Strict",
                    path=_cookie_path(web), secure=request.is_secure)
    return resp
