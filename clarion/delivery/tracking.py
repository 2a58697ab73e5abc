"""Email open and click tracking: signed links written into the HTML at send time, and the
unauthenticated routes that record `_email.open` / `_email.click` when they are followed.

Enabled per app (off by default) with the extension API
`PUT /v1/apps/{application-id}/email-tracking {"Enabled": true, "BaseUrl": "https://..."}`;
`BaseUrl` is where recipients' mail clients reach this server (default
`http://<CLARION_HOST>:<CLARION_PORT>`). When on, every HTML email of the app gets:

- each `<a href="http(s)://...">` rewritten to `{BaseUrl}/track/click/{token}`, which records
  `_email.click` (attribute `feedback` = the original URL) and redirects (302) to the original;
  links marked `ses:no-track` or `data-clarion-no-track` are left alone, as are `mailto:` etc.;
- a 1x1 transparent GIF `{BaseUrl}/track/open/{token}` before `</body>` (or at the end), which
  records `_email.open`.

A token is the event's data (kind, app, message id, endpoint, campaign attributes, and for a
click the URL) in base64url JSON, followed by a truncated HMAC-SHA256 of it under a key derived
from the master key: a token cannot be forged or altered (no open redirect), and the server keeps
no per-link state. Unknown or altered tokens get a 404.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html as html_lib
import re
from collections.abc import Callable
from urllib.parse import quote

import anyio
import orjson

from .events import engagement_event

SETTINGS_KEY = "ClarionEmailTracking"  # in the app's stored settings document (not a Pinpoint member)
PREFIX = "/track"
_SIGNATURE_BYTES = 16
_LINK = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"'\s]+)\2""", re.IGNORECASE)
_NO_TRACK = re.compile(r"ses:no-track|data-clarion-no-track", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"
_NOT_FOUND = (404, [(b"content-type", b"application/json")], b'{"Message":"Not found"}')


def settings_of(app_settings: dict | None) -> dict:
    return (app_settings or {}).get(SETTINGS_KEY) or {}


def base_url(tracking: dict, settings) -> str:
    return (tracking.get("BaseUrl") or f"http://{settings.host}:{settings.port}").rstrip("/")


class LinkSigner:
    def __init__(self, key: bytes):
        self._key = key

    def token(self, payload: list) -> str:
        body = base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=")
        signature = hmac.new(self._key, body, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
        return (body + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode("ascii")

    def verify(self, token: str) -> list | None:
        body, _, signature = token.encode("ascii", "replace").partition(b".")
        expected = base64.urlsafe_b64encode(
            hmac.new(self._key, body, hashlib.sha256).digest()[:_SIGNATURE_BYTES]).rstrip(b"=")
        if not body or not hmac.compare_digest(expected, signature):
            return None
        try:
            payload = orjson.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
        except (ValueError, orjson.JSONDecodeError):
            return None
        return payload if isinstance(payload, list) and len(payload) >= 5 else None


def tracker(signer: LinkSigner, base: str, app_id: str, message_id: str, endpoint_id: str | None,
            attributes: dict) -> Callable[[str], str]:
    """A function rewriting one recipient's HTML: tracked links and the open pixel."""
    common = [app_id, message_id, endpoint_id, attributes]

    def link(match: re.Match) -> str:
        opening, quote, url = match.groups()
        if _NO_TRACK.search(match.group(0)):
            return match.group(0)
        target = html_lib.unescape(url)
        tracked = f"{base}{PREFIX}/click/{signer.token(['click', *common, target])}"
        return f"{opening}{quote}{tracked}{quote}"

    def rewrite(html: str) -> str:
        html = _LINK.sub(link, html)
        pixel = (f'<img src="{base}{PREFIX}/open/{signer.token(["open", *common])}" width="1" height="1" '
                 'alt="" style="display:none">')
        ends = list(_BODY_END.finditer(html))
        if ends:
            at = ends[-1].start()
            return html[:at] + pixel + html[at:]
        return html + pixel

    return rewrite


class TrackingRoutes:
    """The ASGI mount for `/track/open/{token}` and `/track/click/{token}` (no authentication)."""

    def __init__(self, service):
        self.service = service
        self.signer = LinkSigner(service.vault.derive_key("email-tracking"))

    async def __call__(self, request):
        if request.method not in ("GET", "HEAD"):
            return _NOT_FOUND
        kind, _, token = request.raw_path[len(PREFIX) + 1:].partition("/")
        payload = self.signer.verify(token) if kind in ("open", "click") else None
        if payload is None or payload[0] != kind:
            return _NOT_FOUND
        url = payload[5] if kind == "click" and len(payload) > 5 else None
        if kind == "click" and not isinstance(url, str):
            return _NOT_FOUND
        if request.method == "GET":  # a HEAD (a link checker, a proxy) is answered, not counted
            await anyio.to_thread.run_sync(self._record, kind, payload, url)
        if kind == "click":
            location = quote(url, safe=_URL_SAFE).encode("ascii")
            return 302, [(b"location", location), (b"cache-control", b"no-store")], b""
        return 200, [(b"content-type", b"image/gif"), (b"cache-control", b"no-store, max-age=0")], PIXEL

    def _record(self, kind: str, payload: list, url: str | None) -> None:
        _, app_id, message_id, endpoint_id, attributes = payload[:5]
        service = self.service
        row = engagement_event(app_id, kind, endpoint_id, message_id, attributes or {}, service.clock.now(),
                               service.ids.request_id(), url)
        service.events.append([row])
