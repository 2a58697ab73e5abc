"""Email open and click tracking: the extension setting, rewritten HTML, the unauthenticated
routes, and the events and KPIs they produce."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.protocol.wire import Wire

from .helpers import enable_email, events, kpi, put_endpoint, sent

HTML = ('<html><body><p>Hi {{Attributes.Name}}</p><a href="https://shop.example.com/deal?x=1&amp;y=2">Deal</a>'
        ' <a href="mailto:help@example.com">Help</a> <a ses:no-track href="https://example.com/private">P</a>'
        '</body></html>')


@pytest.fixture
def wire(server):
    w = Wire(server)
    yield w
    w.close()


def set_tracking(wire, app_id, body) -> httpx.Response:
    return wire.send(wire.prepare("PUT", f"/v1/apps/{app_id}/email-tracking", body=body))


def send_html(client, app_id):
    return client.send_messages(ApplicationId=app_id, MessageRequest={
        "Endpoints": {"ada": {}}, "MessageConfiguration": {"EmailMessage": {"SimpleEmail": {
            "Subject": {"Data": "Deals"}, "HtmlPart": {"Data": HTML}, "TextPart": {"Data": "Deals inside"}}}}})


def test_tracked_links_and_pixel_record_opens_and_clicks(client, server, service, app_id, wire):
    enable_email(client, app_id)
    put_endpoint(client, app_id, "ada", "ada@example.com", Attributes={"Name": ["Ada"]})
    answer = set_tracking(wire, app_id, {"Enabled": True, "BaseUrl": server.url})
    assert answer.status_code == 200 and answer.json() == {"ApplicationId": app_id, "Enabled": True,
                                                           "BaseUrl": server.url}
    message_id = send_html(client, app_id)["MessageResponse"]["EndpointResult"]["ada"]["MessageId"]
    html = sent(service, "email")[0]["content"]["html"]
    assert "<p>Hi Ada</p>" in html and 'href="mailto:help@example.com"' in html
    assert 'href="https://example.com/private"' in html  # opted out of tracking
    click = re.search(r'href="(http://[^"]+/track/click/[^"]+)"', html).group(1)
    pixel = re.search(r'<img src="([^"]+/track/open/[^"]+)"', html).group(1)
    assert html.index(pixel) < html.index("</body>")
    with httpx.Client() as http:  # unauthenticated, like a mail client
        opened = http.get(pixel)
        assert opened.status_code == 200 and opened.headers["content-type"] == "image/gif"
        http.get(pixel)
        redirected = http.get(click)
        assert redirected.status_code == 302
        assert redirected.headers["location"] == "https://shop.example.com/deal?x=1&y=2"
        tampered = click[:-3] + ("AAA" if not click.endswith("AAA") else "BBB")
        assert http.get(tampered).status_code == 404
        assert http.get(pixel.replace("/open/", "/click/")).status_code == 404  # a token is for one kind
    opens = events(service, app_id, "_email.open")
    assert len(opens) == 2 and {e["endpoint_id"] for e in opens} == {"ada"}
    assert opens[0]["attributes"]["message_id"] == message_id
    [clicked] = events(service, app_id, "_email.click")
    assert clicked["attributes"]["feedback"] == "https://shop.example.com/deal?x=1&y=2"
    assert kpi(client, app_id, "txn-emails-opened") == 1.0
    assert kpi(client, app_id, "txn-emails-unique-opens") == 1.0
    assert kpi(client, app_id, "txn-emails-clicked") == 1.0


def test_tracking_is_off_by_default_and_settings_are_checked(client, service, app_id, wire):
    enable_email(client, app_id)
    put_endpoint(client, app_id, "ada", "ada@example.com")
    current = wire.send(wire.prepare("GET", f"/v1/apps/{app_id}/email-tracking"))
    assert current.status_code == 200 and current.json()["Enabled"] is False
    send_html(client, app_id)
    assert "/track/" not in sent(service, "email")[0]["content"]["html"]
    for body in ({"Enabled": "yes"}, {"Enabled": True, "BaseUrl": "ftp://x"}, {"Enabled": True, "Other": 1}):
        refused = set_tracking(wire, app_id, body)
        assert refused.status_code == 400 and refused.headers["x-amzn-errortype"] == "BadRequestException"
    unsigned = httpx.put(f"{wire.server.url}/v1/apps/{app_id}/email-tracking", json={"Enabled": True})
    assert unsigned.status_code == 403
    assert wire.send(wire.prepare("GET", f"/v1/apps/{app_id}/email-tracking")).json()["Enabled"] is False
