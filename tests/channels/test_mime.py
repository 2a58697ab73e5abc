"""The precompiled MIME skeleton: what it builds reads back exactly with the stdlib parser."""

from __future__ import annotations

import email
import email.policy

import pytest

from clarion.channels.mime import MimeSkeleton, encoded_words, envelope_address
from clarion.channels.smtp_transaction import wire_data

SUBJECTS = [
    "Plain",
    "A long ASCII subject that certainly needs folding because it is far longer than seventy-eight characters",
    "Ünïcödé ñame — 注文が発送されました 🚚",
    "x" * 120,  # no space to fold at: one long (legal, < 998) line
]
BODIES = [
    "Short text.\n",
    "Two lines\r\nwith CRLF\rand a bare CR\n",
    "Café crème — naïve façade\n" * 10,  # mostly ASCII: quoted-printable
    "日本語のテキストです。" * 30,  # mostly non-ASCII: base64
    "a" * 2000,  # a line too long for 7bit
    "Contains the =_ boundary prefix and a line\n.\nwith a lone dot\n",
]


def parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


def normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


@pytest.mark.parametrize("subject", SUBJECTS)
@pytest.mark.parametrize("body", BODIES)
def test_round_trip_through_the_stdlib_parser(subject, body):
    data = MimeSkeleton().build(from_address="Zoë <zoe@example.com>", to="Bob <bob@example.org>", subject=subject,
                                message_id="id-1@example.com", timestamp=1_714_564_800, text=body,
                                html=f"<p>{body}</p>")
    message = parse(data)
    assert not message.defects
    assert message["Subject"] == subject
    text, html = message.iter_parts()
    assert normalise(text.get_content()) == normalise(body)
    assert normalise(html.get_content()) == normalise(f"<p>{body}</p>")
    lines = data.split(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    assert max(len(line) for line in lines) <= (998 if "x" * 120 in subject else 78)


@pytest.mark.parametrize("subject", SUBJECTS)
@pytest.mark.parametrize("body", [*BODIES, ".leading dot", "ends without a line end", "\n.\n..\n", "", "é.\n.é"])
@pytest.mark.parametrize("parts", ["both", "text", "html"])
def test_data_payload_is_the_wire_form_of_the_message(subject, body, parts):
    """`build_data` (the DATA payload in one pass) gives what `wire_data` makes of `build`."""
    skeleton = MimeSkeleton()
    fields = dict(from_address="Zoë <zoe@example.com>", to="Bob <bob@example.org>", subject=subject,
                  message_id="id-1@example.com", timestamp=1_714_564_800,
                  text=body if parts != "html" else None, html=f".<p>\n.{body}</p>" if parts != "text" else None,
                  reply_to=["Ann <ann@example.com>"], headers=[("X-Note", ".dot\r\n.injected"), ("Cc", "c@example.com")])
    assert skeleton.build_data(**fields) == wire_data(skeleton.build(**fields))


def test_encoding_choices():
    skeleton = MimeSkeleton()
    def cte(body):
        message = parse(skeleton.build(from_address="a@example.com", to="b@example.org", subject="s",
                                       message_id="i@example.com", timestamp=0, text=body))
        return message["Content-Transfer-Encoding"]
    assert cte("plain ascii\n") == "7bit"
    assert cte("Café crème\n" * 5) == "quoted-printable"
    assert cte("日本語" * 20) == "base64"
    assert cte("a" * 1000) == "quoted-printable"
    assert cte(f"mentions {skeleton.boundary} itself") == "quoted-printable"


def test_encoded_words_never_split_a_character_and_fit_76_columns():
    value = "€" * 100 + "😀" * 30
    folded = encoded_words(value, prefix=len("Subject: "))
    lines = folded.split("\r\n")
    assert len("Subject: " + lines[0]) <= 76 and all(len(line) <= 76 for line in lines[1:])
    assert str(email.message_from_string(f"Subject: {folded}\r\n\r\n", policy=email.policy.default)["Subject"]) \
        == value


def test_address_headers():
    data = MimeSkeleton().build(
        from_address='"Shop, Inc." <shop@exämple.com>', to="plain@example.org", subject="s",
        message_id="i@example.com", timestamp=0, text="t",
        reply_to=["Ann <ann@example.com>", "Ünal Çelik <unal@example.com>", "c@example.com"],
        headers=[("Cc", "Jörg <j@example.com>, k@example.com")])
    message = parse(data)
    assert message["From"].addresses[0].display_name == "Shop, Inc."
    assert message["From"].addresses[0].domain == "xn--exmple-cua.com"
    assert [a.display_name for a in message["Reply-To"].addresses] == ["Ann", "Ünal Çelik", ""]
    assert [a.addr_spec for a in message["Cc"].addresses] == ["j@example.com", "k@example.com"]
    assert message["Cc"].addresses[0].display_name == "Jörg"


def test_invalid_header_names_are_refused():
    with pytest.raises(ValueError):
        MimeSkeleton().build(from_address="a@example.com", to="b@example.org", subject="s", message_id="i@x",
                             timestamp=0, text="t", headers=[("Bad Name", "v")])


def test_envelope_addresses():
    assert envelope_address("Name <a@example.com>") == "a@example.com"
    assert envelope_address(" a@bücher.de ") == "a@xn--bcher-kva.de"
