"""Email as bytes, fast: a precompiled MIME skeleton filled per recipient.

`email.message.EmailMessage` costs about 2 ms per message (policy objects, header parsing,
generator); a campaign renders one message per recipient, so that cost dominates. The skeleton
keeps the parts that never change (MIME-Version, the multipart boundary, the part headers) as
ready bytes and fills in the per-recipient values with only the work RFC 5322 / 2045 / 2047
require:

- header values: CR/LF removed (no header injection); ASCII values folded at whitespace to
  keep lines under 78 characters; non-ASCII values as RFC 2047 `=?utf-8?b?...?=` encoded
  words (display names only; the address itself stays as is, IDN domains in punycode);
- bodies: CRLF line endings; 7bit when ASCII with lines <= 998 octets, else quoted-printable
  (mostly ASCII text) or base64 (mostly non-ASCII text), lines <= 76 characters;
- the boundary starts with `=_`, which neither quoted-printable nor base64 output can
  contain; a 7bit body that contains it falls back to quoted-printable.

The stdlib email parser reads the result back (tests/channels/test_mime.py checks that).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timezone
from email.utils import format_datetime, getaddresses, parseaddr

CRLF = "\r\n"
_MAX_7BIT_LINE = 998
_ENCODED_WORD_BYTES = 45  # 60 base64 chars: a folded ` =?utf-8?b?...?=` line is 73 <= 76
_LINE_BREAKS = re.compile(r"[\r\n]+")
_NAME_ADDR = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^"<>,;:()\\]*?))\s*<([^<>\s"(),;]+@[^<>\s"(),;]+)>\s*')
_BARE = re.compile(r'\s*([^<>\s"(),;:]+@[^<>\s"(),;:]+)\s*')
_FIELD_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII except ":" (RFC 5322 §3.6.8)
_UNESCAPE = re.compile(r"\\(.)")
_ATOMS = re.compile(r"[A-Za-z0-9 !#$%&'*+/=?^_`{|}~-]*")
_STRUCTURED = ("from", "to", "cc", "reply-to", "sender")


class MimeSkeleton:
    """Build `bytes` messages for one sender setup; `build()` (or `build_data()`, the same
    message framed for SMTP's DATA) is called once per recipient."""

    def __init__(self, boundary: str | None = None):
        self.boundary = boundary or f"=_{secrets.token_hex(10)}"
        part = "--" + self.boundary + CRLF + "Content-Type: text/{kind}; charset=utf-8" + CRLF
        self._text_part = part.format(kind="plain")
        self._html_part = part.format(kind="html")
        self._multipart = ("Content-Type: multipart/alternative; boundary=\"" + self.boundary + "\"" + CRLF
                           + CRLF + "This is a multi-part message in MIME format." + CRLF)
        self._closing = "--" + self.boundary + "--" + CRLF
        self._date_cache: tuple[int, str] = (-1, "")
        self._from_cache: tuple[str, str] = ("", "")

    def build(self, **fields) -> bytes:
        """The message (keywords: see `compose`)."""
        return _encoded(self.compose(**fields))

    def build_data(self, **fields) -> bytes:
        """The message as SMTP's DATA payload: what `smtp_transaction.wire_data` makes of
        `build()`'s bytes, without another pass over them. The text has CRLF line ends only by
        construction (header values lose their CR and LF, bodies are normalised, folds and parts
        are joined with CRLF), so only a line starting with "." needs doubling (RFC 5321
        §4.5.2: a body line; the first line is a header), then the end-of-data line is added."""
        text = self.compose(**fields)
        if "\n." in text:
            text = text.replace("\r\n.", "\r\n..")
        return _encoded(text + (".\r\n" if text.endswith(CRLF) else "\r\n.\r\n"))

    def compose(self, *, from_address: str, to: str, subject: str, message_id: str, timestamp: float,
                text: str | None = None, html: str | None = None, reply_to=(), headers=()) -> str:
        """The message as text, CRLF line ends throughout."""
        if self._from_cache[0] != from_address:  # a campaign's every message has the same sender
            self._from_cache = (from_address, addresses(from_address, 6))
        out = [
            "From: ", self._from_cache[1], CRLF,
            "To: ", addresses(to, 4), CRLF,
            "Subject: ", header_value(subject, len("Subject: ")), CRLF,
            "Date: ", self._date(timestamp), CRLF,
            "Message-ID: <", clean(message_id), ">", CRLF,
            "MIME-Version: 1.0", CRLF,
        ]
        if reply_to:
            out += ["Reply-To: ", addresses(reply_to, 10), CRLF]
        for name, value in headers:
            out += [header_name(name), ": ", _any_header(name, value), CRLF]
        if text is not None and html is not None:
            # The CRLF before a boundary line belongs to the boundary (RFC 2046 §5.1.1): always add one.
            out += [self._multipart, self._text_part, *self._body(text), CRLF, self._html_part, *self._body(html),
                    CRLF, self._closing]
        else:
            kind = "html" if html is not None else "plain"
            out += ["Content-Type: text/", kind, "; charset=utf-8", CRLF,
                    *self._body(html if html is not None else (text or ""))]
        return "".join(out)

    def _body(self, content: str) -> list[str]:
        """`Content-Transfer-Encoding` header, blank line, the encoded body ending in CRLF."""
        content = crlf(content)
        encoding, encoded = encode_body(content, self.boundary)
        return ["Content-Transfer-Encoding: ", encoding, CRLF, CRLF, encoded]

    def _date(self, timestamp: float) -> str:
        second = int(timestamp)
        if self._date_cache[0] != second:  # formatting costs ~10 us: once per second is enough
            self._date_cache = (second, format_datetime(datetime.fromtimestamp(second, timezone.utc)))
        return self._date_cache[1]


def _encoded(text: str) -> bytes:
    # Only an internationalised mailbox (sent with SMTPUTF8) leaves non-ASCII in the headers.
    return text.encode("ascii") if text.isascii() else text.encode("utf-8")


def crlf(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\n", CRLF)


def encode_body(content: str, boundary: str) -> tuple[str, str]:
    """(Content-Transfer-Encoding, encoded text) for a CRLF-normalised body."""
    if content.isascii() and boundary not in content and _longest_line(content) <= _MAX_7BIT_LINE:
        return "7bit", content
    raw = content.encode("utf-8")
    high = len(raw) - len(content) if not content.isascii() else 0
    if high * 3 > len(raw):  # mostly non-ASCII (CJK, Cyrillic...): base64 is the shorter form
        return "base64", _base64_lines(raw)
    # binascii keeps the CRLF line ends and adds `=` soft breaks at 76 characters, ending them
    # in CRLF when the text's first line end is CRLF; a one-line text gets bare LF: fixed here.
    encoded = binascii.b2a_qp(raw, quotetabs=False, istext=True).decode("ascii")
    if CRLF not in content:
        encoded = encoded.replace("\n", CRLF)
    return "quoted-printable", encoded


def _longest_line(content: str) -> int:
    if len(content) <= _MAX_7BIT_LINE:
        return len(content)
    return max(map(len, content.split(CRLF)))


def _base64_lines(raw: bytes) -> str:
    encoded = base64.b64encode(raw).decode("ascii")
    return CRLF.join(encoded[i:i + 76] for i in range(0, len(encoded), 76))


def clean(value: str) -> str:
    """A header value on one line: CR and LF would start a new header (header injection)."""
    if "\r" in value or "\n" in value:
        value = _LINE_BREAKS.sub(" ", value)
    return value


def header_name(name: str) -> str:
    """A field name is printable ASCII without ':' or spaces (RFC 5322 §2.2)."""
    if not _FIELD_NAME.fullmatch(name):
        raise ValueError(f"invalid header name {name!r}")
    return name


def header_value(value: str, prefix: int) -> str:
    """An unstructured value (Subject, custom headers): encoded words if non-ASCII, else folded."""
    value = clean(value)
    if not value.isascii():
        return encoded_words(value, prefix)
    if prefix + len(value) <= 78:
        return value
    return _fold(value, prefix)


def _fold(value: str, prefix: int) -> str:
    """Fold a long ASCII value at spaces (CRLF + the space itself, RFC 5322 §2.2.3)."""
    lines, line, width = [], [], prefix
    for word in value.split(" "):
        if line and width + 1 + len(word) > 78:
            lines.append(" ".join(line))
            line, width = [], 0
        width += len(word) + (1 if line else 0)
        line.append(word)
    lines.append(" ".join(line))
    return (CRLF + " ").join(lines)


def encoded_words(value: str, prefix: int = 0) -> str:
    """RFC 2047 `B` encoded words on lines of at most 76 characters (the first line shares its
    room with the `Name: ` before it), never splitting a character."""
    raw = value.encode("utf-8")
    words, start, budget = [], 0, _word_bytes(prefix)
    while start < len(raw):
        end = min(start + budget, len(raw))
        while end < len(raw) and raw[end] & 0xC0 == 0x80:  # never cut inside a UTF-8 sequence
            end -= 1
        words.append("=?utf-8?b?" + base64.b64encode(raw[start:end]).decode("ascii") + "?=")
        start, budget = end, _ENCODED_WORD_BYTES
    return (CRLF + " ").join(words)


def _word_bytes(prefix: int) -> int:
    """How many bytes fit in one encoded word after `prefix` characters (12 are `=?utf-8?b?` + `?=`)."""
    return max((76 - prefix - 12) // 4 * 3, 6)


def addresses(values: str | Sequence[str], prefix: int) -> str:
    """An address-list header value: `addr` or `Name <addr>` items, names quoted or RFC 2047
    encoded as needed, IDN domains in punycode, folded between items to keep lines short."""
    values = [clean(values)] if isinstance(values, str) else [clean(v) for v in values]
    if len(values) == 1 and values[0].isascii() and "<" not in values[0] and "," not in values[0]:
        return values[0].strip()  # the common case: a bare address
    pairs = [pair for value in values for pair in parse_addresses(value) if pair[1]]
    if not pairs:
        raise ValueError(f"invalid address {', '.join(values)!r}")
    out, width = [], prefix
    for name, address in pairs:
        if out:
            out.append(",")
            width += 1
            if width + 1 + len(address) + 2 > 78:
                out.append(CRLF)
                width = 0
            out.append(" ")
            width += 1
        item = format_address(name, address, width)
        out.append(item)
        width = len(item) - item.rfind(CRLF) - 2 if CRLF in item else width + len(item)
    return "".join(out)


def format_address(name: str, address: str, prefix: int = 0) -> str:
    address = ascii_address(address)
    if not name:
        return address
    name = _quote_name(name) if name.isascii() else encoded_words(name, prefix)
    last_line = len(name) - name.rfind(CRLF) - 2 if CRLF in name else prefix + len(name)
    separator = " " if last_line + 3 + len(address) <= 78 else CRLF + " "
    return name + separator + "<" + address + ">"


def parse_addresses(value: str) -> list[tuple[str, str]]:
    """(name, address) pairs. `Name <addr>`, `"Quoted, Name" <addr>` and `addr` are matched
    directly (the stdlib parser costs ~50 us an address); anything else goes to the stdlib."""
    match = _NAME_ADDR.fullmatch(value)
    if match:
        quoted, plain, address = match.groups()
        return [(_UNESCAPE.sub(r"\1", quoted) if quoted is not None else plain, address)]
    match = _BARE.fullmatch(value)
    if match:
        return [("", match.group(1))]
    return getaddresses([value])


def _quote_name(name: str) -> str:
    if _ATOMS.fullmatch(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ascii_address(address: str) -> str:
    """The domain of an internationalised address in punycode (a non-ASCII local part would
    need SMTPUTF8, which the server may not offer: it is kept and the server decides)."""
    local, _, domain = address.rpartition("@")
    if domain and not domain.isascii():
        domain = domain.encode("idna").decode("ascii")
        return f"{local}@{domain}"
    return address


def envelope_address(value: str) -> str:
    """The bare address for MAIL FROM / RCPT TO."""
    value = value.strip()
    if "<" in value:
        pairs = parse_addresses(value)
        value = pairs[0][1] if len(pairs) == 1 else parseaddr(value)[1]
    return ascii_address(value)


def _any_header(name: str, value: str) -> str:
    if name.lower() in _STRUCTURED:
        return addresses(value, len(name) + 2)
    return header_value(value, len(name) + 2)
