"""Who may use the dashboard, and proof that an action was posted from its own pages.

- Auth: with a token, a request needs `Authorization: Bearer TOKEN` or the
  session cookie the login form sets (an HMAC of the token, never the token).
  A callable `auth(request) -> bool` lets a host app decide instead.
- CSRF: every page sets a random token in a cookie and puts the same value in
  its forms; an action is accepted only when the posted field equals the
  cookie. Another site can make a browser post, but it cannot read the cookie.
- The message after an action (`?done=...`) is signed with the same cookie, so
  a link made elsewhere cannot put words of its own in the page's banner.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Final

from starlette.requests import Request

AuthCheck = Callable[[Request], bool]

SESSION_COOKIE: Final = "bgjobs_dashboard_session"
CSRF_COOKIE: Final = "bgjobs_dashboard_csrf"
CSRF_FIELD: Final = "csrf_token"


class Guard:
    """Checks requests against the configured token (or callable) and CSRF tokens."""

    def __init__(self, auth: str | AuthCheck | None) -> None:
        if isinstance(auth, str) and not auth:
            raise ValueError("auth must be a non-empty token, a callable or None (got '')")
        if auth is not None and not isinstance(auth, str) and not callable(auth):
            raise TypeError(f"auth must be a token string, a callable or None (got {auth!r})")
        self._auth = auth

    @property
    def has_login(self) -> bool:
        """True when a token protects the dashboard (so it shows a login form)."""
        return isinstance(self._auth, str)

    def allows(self, request: Request) -> bool:
        """Whether the request is authenticated."""
        if self._auth is None:
            return True
        if not isinstance(self._auth, str):
            return bool(self._auth(request))
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and self.token_matches(given.strip()):
            return True
        cookie = request.cookies.get(SESSION_COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie, self.session_value())

    def token_matches(self, given: str) -> bool:
        """Whether `given` is the token (compared in constant time)."""
        if not isinstance(self._auth, str):
            return False
        return hmac.compare_digest(given.encode(), self._auth.encode())

    def session_value(self) -> str:
        """What the session cookie holds: derived from the token, useless without it."""
        assert isinstance(self._auth, str)
        return hmac.new(
            self._auth.encode(), b"bgjobs dashboard session", hashlib.sha256
        ).hexdigest()


def csrf_token(request: Request) -> tuple[str, bool]:
    """The request's CSRF token, and whether it is new (the response must set the cookie)."""
    existing = request.cookies.get(CSRF_COOKIE, "")
    if len(existing) >= 32:
        return existing, False
    return secrets.token_urlsafe(32), True


def csrf_ok(request: Request, posted: object) -> bool:
    """Whether a posted CSRF field matches the cookie."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not isinstance(posted, str) or not posted:
        return False
    return hmac.compare_digest(cookie.encode(), posted.encode())


#: Between an action's `done` code and its signature (a code may hold any queue name).
_DONE_SEPARATOR: Final = "~"


def signed_done(request: Request, code: str) -> str:
    """`code` with a signature keyed by the request's CSRF cookie, for the redirect's URL."""
    return f"{code}{_DONE_SEPARATOR}{_done_signature(request, code)}"


def verified_done(request: Request, value: str) -> str:
    """The code of a `done` value this browser's own action signed; '' for anything else."""
    code, separator, signature = value.rpartition(_DONE_SEPARATOR)
    if not separator or not code or not request.cookies.get(CSRF_COOKIE):
        return ""
    # Bytes: the signature comes from the URL and may hold any character.
    expected = _done_signature(request, code).encode()
    return code if hmac.compare_digest(signature.encode(), expected) else ""


def _done_signature(request: Request, code: str) -> str:
    key = request.cookies.get(CSRF_COOKIE, "").encode()
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()[:24]
