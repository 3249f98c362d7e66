#!/usr/bin/python3
"""Lint a rendered message and compare it with what a test expected.

Usage:
    check_message.py MESSAGE_FILE [EXPECTED.json]

MESSAGE_FILE holds the exact bytes that follow SMTP DATA, before dot-stuffing. The file is
parsed with Python's email package (BytesParser, policy=email.policy.default), which plays
the part of a strict reader.

Lint, always run (RFC 5321 2.3.8 and 4.5.3.1.6, RFC 5322, RFC 2045, RFC 2047):
  - line ends are CRLF only, no bare CR or LF; the message ends with CRLF;
  - no line longer than 998 octets;
  - every header line (top level and in MIME parts) is ASCII and at most
    `max_header_line` characters (78 unless the JSON says otherwise);
  - every encoded-word is at most 75 characters, decodes on its own in its charset, and
    in Subject, From, To, Cc and Reply-To is set off by white space from other text;
  - exactly one Date, From and Message-ID, at most one Subject, To, Cc and MIME-Version;
    no Bcc header anywhere;
  - Date follows RFC 5322 3.3 with English names and a numeric zone; Message-ID is
    <left@right>;
  - base64 and quoted-printable parts have lines of at most 76 characters, base64 decodes
    strictly, quoted-printable lines end without white space; 7bit parts are ASCII;
  - the parser reports no defect.

EXPECTED.json is an object; every key is optional and only the keys present are checked:
  {
    "subject": "Réunion mensuelle",          # decoded Subject; "" means none or empty
    "from": {"name": "Dupont, Hélène", "address": "helene@example.test"},
    "to": [{"name": "", "address": "zoe@example.test"}],   # in order; "name" may be left out
    "cc": [],                                  # same form as "to"; [] means no Cc header
    "text": "Ligne 1\\nLigne 2\\n",            # decoded text/plain body, see below
    "attachments": [                           # in order, every attachment of the message
      {"file_name": "relevé été.pdf",
       "sha256": "<hex digest of the decoded bytes>",
       "media_type": "application/pdf"}        # optional
    ],
    "date": 1767225600,                        # optional: Date within "date_tolerance"
    "date_tolerance": 2,                       #   seconds (default 2) of this Unix time
    "absent_headers": ["X-Injected"],          # header names that must not appear
    "max_header_line": 78                      # lint limit for header lines; null: 998
  }

"text" is compared after writing every line end of both sides as "\\n"; a message whose
body does not end with a line end is rendered with a final CRLF when it has a single part,
so one extra trailing "\\n" on the decoded side is accepted when the expected text has none.
An empty "to" list accepts a To group with no members (undisclosed-recipients:;).
Display names are decoded as RFC 2047 6.2 says (white space between adjacent
encoded-words dropped), which Python's header registry does not do inside a phrase; the
strict parser still decides how many mailboxes a header holds and their addresses.
The Content-Disposition file name is read as RFC 2183 and RFC 2231 say: white space at its
ends is kept and an encoded-word inside a quoted-string is not decoded (get_filename() does
both). Each attachment's Content-Type `name` parameter, when present, must decode (as
RFC 2047 words, the form old clients read) to the same file name as Content-Disposition.

Exit status: 0 when everything matches, 1 when a check fails (every failure is printed on
stderr, one per line), 2 on usage errors.
"""

import base64
import binascii
import email
import email.header
import email.message
import email.policy
import email.utils
import hashlib
import json
import re
import sys
from email.parser import BytesParser

ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")
DATE = re.compile(
    rb"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} "
    rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    rb"\d\d:\d\d:\d\d [+-]\d{4}$"
)
MESSAGE_ID = re.compile(rb"^<[^<>@\s]+@[^<>@\s]+>$")
SEPARATED_HEADERS = {b"subject", b"from", b"to", b"cc", b"reply-to"}


class Checker:
    def __init__(self):
        self.problems = []

    def fail(self, text):
        self.problems.append(text)

    def expect_equal(self, what, actual, expected):
        if actual != expected:
            self.fail(f"{what}: got {actual!r}, expected {expected!r}")


def split_lines(raw):
    """Lines without their CRLF; the caller has checked the line ends separately."""
    lines = raw.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def header_fields(lines):
    """(name, unfolded value, physical lines) for a block of header lines."""
    fields = []
    for line in lines:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1][1] += line
            fields[-1][2].append(line)
        else:
            name, _, value = line.partition(b":")
            fields.append([name.strip().lower(), value, [line]])
    return fields


def header_blocks(lines, boundaries):
    """Every header block of the message: the top one and one after each boundary line."""
    blocks = []
    current = []
    in_header = True
    for line in lines:
        if in_header:
            if line == b"":
                blocks.append(current)
                current = []
                in_header = False
            else:
                current.append(line)
        elif line.rstrip(b" \t") in boundaries:
            in_header = True
    if in_header and current:
        blocks.append(current)
    return blocks


def decode_encoded_word(match):
    charset, kind, text = (g.decode("ascii") for g in match.groups())
    if kind in "Bb":
        data = base64.b64decode(text, validate=True)
    else:
        data = text.replace("_", " ").encode("ascii")
        data = re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), data)
    return data.decode(charset.split("*")[0], errors="strict")


def lint_line_ends(c, raw):
    if re.search(rb"\r(?!\n)", raw):
        c.fail("bare CR in the message")
    if re.search(rb"(?<!\r)\n", raw):
        c.fail("bare LF in the message")
    if not raw.endswith(b"\r\n"):
        c.fail("the message does not end with CRLF")
    for number, line in enumerate(split_lines(raw), 1):
        if len(line) > 998:
            c.fail(f"line {number} is {len(line)} octets long (RFC 5322 limit: 998)")


def lint_headers(c, block, top, max_header_line):
    fields = header_fields(block)
    for name, value, physical in fields:
        label = name.decode("ascii", "replace")
        for line in physical:
            try:
                line.decode("ascii")
            except UnicodeDecodeError:
                c.fail(f"header {label} holds non-ASCII bytes: {line!r}")
            if len(line) > max_header_line:
                c.fail(f"header {label} has a line of {len(line)} characters: {line!r}")
        if name == b"bcc":
            c.fail("a Bcc header is present")
        for m in ENCODED_WORD.finditer(value):
            word = m.group(0)
            if len(word) > 75:
                c.fail(f"encoded-word of {len(word)} characters in {label}: {word!r}")
            try:
                decode_encoded_word(m)
            except (ValueError, LookupError, binascii.Error) as e:
                c.fail(f"encoded-word in {label} does not decode on its own ({e}): {word!r}")
            if name in SEPARATED_HEADERS:
                before = value[m.start() - 1 : m.start()]
                after = value[m.end() : m.end() + 1]
                if before not in (b"", b" ", b"\t") or after not in (b"", b" ", b"\t"):
                    c.fail(f"encoded-word glued to other text in {label}: {value!r}")
    if not top:
        return fields
    counts = {}
    for name, _, _ in fields:
        counts[name] = counts.get(name, 0) + 1
    for name in (b"date", b"from", b"message-id"):
        if counts.get(name, 0) != 1:
            c.fail(f"{counts.get(name, 0)} {name.decode()} headers, expected exactly one")
    for name in (b"subject", b"to", b"cc", b"mime-version", b"reply-to", b"sender"):
        if counts.get(name, 0) > 1:
            c.fail(f"{counts[name]} {name.decode()} headers, expected at most one")
    for name, value, _ in fields:
        if name == b"date" and not DATE.match(value.strip()):
            c.fail(f"Date is not RFC 5322 3.3 with English names: {value.strip()!r}")
        if name == b"message-id" and not MESSAGE_ID.match(value.strip()):
            c.fail(f"Message-ID is not <left@right>: {value.strip()!r}")
    return fields


def lint_parts(c, msg):
    for part in msg.walk():
        for defect in part.defects:
            c.fail(f"parser defect in {part.get_content_type()}: {defect!r}")
        if part.is_multipart():
            continue
        cte = part.get("Content-Transfer-Encoding", "7bit").strip().lower()
        payload = part.get_payload(decode=False)
        raw = payload.encode("ascii", "surrogateescape")
        lines = raw.split(b"\n")
        if cte in ("base64", "quoted-printable"):
            for line in lines:
                line = line.rstrip(b"\r")
                if len(line) > 76:
                    c.fail(f"{cte} line of {len(line)} characters in {part.get_content_type()}")
                if cte == "quoted-printable" and line[-1:] in (b" ", b"\t"):
                    c.fail(f"quoted-printable line ends with white space: {line!r}")
        if cte == "base64":
            try:
                binascii.a2b_base64(re.sub(rb"\s", b"", raw), strict_mode=True)
            except binascii.Error as e:
                c.fail(f"base64 of {part.get_content_type()} does not decode strictly: {e}")
        if cte == "7bit" and any(b >= 0x80 for b in raw):
            c.fail(f"7bit part {part.get_content_type()} holds 8-bit bytes")


def rfc2047_display_names(raw_value):
    """(name, address) pairs with names decoded as RFC 2047 6.2 says: white space between
    two adjacent encoded-words is dropped. Python's header registry keeps it inside a
    phrase, so it cannot be trusted with a long encoded display name."""
    unfolded = re.sub(r"\r?\n(?=[ \t])", "", raw_value)
    pairs = []
    for name, address in email.utils.getaddresses([unfolded]):
        if "=?" in name:
            name = str(email.header.make_header(email.header.decode_header(name)))
        pairs.append((name, address))
    return pairs


def compare_mailboxes(c, what, msg, expected):
    header = msg[what]
    if header is None:
        if expected:
            c.fail(f"no {what} header")
        return
    if what == "to" and not expected:
        groups = header.groups
        if len(groups) == 1 and groups[0].display_name and not groups[0].addresses:
            return
    # The strict parser decides how many mailboxes there are and their addresses; the
    # names come from an RFC 2047 decoding of the same raw value.
    strict = [a.addr_spec for a in header.addresses]
    raw = next(v for k, v in msg.raw_items() if k.lower() == what)
    decoded = rfc2047_display_names(raw)
    if [a for _, a in decoded] != strict:
        c.fail(f"{what}: parsers disagree on the addresses: {strict!r} vs {decoded!r}")
    wanted = [(e.get("name", ""), e["address"]) for e in expected]
    c.expect_equal(what, decoded, wanted)


def normalise_line_ends(text):
    return text.replace("\r\n", "\n").replace("\r", "\n")


def disposition_file_name(part):
    """The Content-Disposition file name as RFC 2183 and RFC 2231 define it. get_filename()
    strips white space at both ends of the name, and the header registry decodes an
    encoded-word inside the quoted-string, which RFC 2047 5 forbids; the raw value is read
    with the compat32 parameter parser instead, which does neither."""
    raw = next((v for k, v in part.raw_items() if k.lower() == "content-disposition"), None)
    if raw is None:
        return part.get_filename()
    legacy = email.message.Message()
    legacy["Content-Disposition"] = re.sub(r"\r?\n(?=[ \t])", "", raw)
    value = legacy.get_param("filename", header="content-disposition")
    return None if value is None else email.utils.collapse_rfc2231_value(value)


def content_type_name(part):
    """The Content-Type name parameter decoded once as RFC 2047. The header registry has
    already decoded it, and decoding that result again turns a name that merely looks like
    an encoded-word into something else; the raw value is read with compat32 instead."""
    raw = next((v for k, v in part.raw_items() if k.lower() == "content-type"), None)
    if raw is None:
        return None
    legacy = email.message.Message()
    legacy["Content-Type"] = re.sub(r"\r?\n(?=[ \t])", "", raw)
    value = legacy.get_param("name")
    if value is None:
        return None
    value = email.utils.collapse_rfc2231_value(value)
    return str(email.header.make_header(email.header.decode_header(value)))


def compare(c, msg, expected, fields):
    if "subject" in expected:
        c.expect_equal("subject", str(msg["subject"] or ""), expected["subject"])
    if "from" in expected:
        compare_mailboxes(c, "from", msg, [expected["from"]])
    if "to" in expected:
        compare_mailboxes(c, "to", msg, expected["to"])
    if "cc" in expected:
        if expected["cc"] or msg["cc"] is not None:
            compare_mailboxes(c, "cc", msg, expected["cc"])
    if "text" in expected:
        body = msg.get_body(("plain",))
        if body is None:
            c.fail("no text/plain part")
        else:
            actual = normalise_line_ends(body.get_content())
            wanted = normalise_line_ends(expected["text"])
            single_part_extra = not msg.is_multipart() and actual == wanted + "\n"
            if actual != wanted and not (single_part_extra and not wanted.endswith("\n")):
                c.expect_equal("text body", actual, wanted)
    if "attachments" in expected:
        parts = list(msg.iter_attachments())
        c.expect_equal("number of attachments", len(parts), len(expected["attachments"]))
        for index, (part, want) in enumerate(zip(parts, expected["attachments"])):
            label = f"attachment {index + 1}"
            name = disposition_file_name(part)
            c.expect_equal(f"{label} file name", name, want["file_name"])
            type_name = content_type_name(part)
            if type_name is not None:
                c.expect_equal(f"{label} Content-Type name", type_name, want["file_name"])
            data = part.get_payload(decode=True) or b""
            c.expect_equal(f"{label} sha256", hashlib.sha256(data).hexdigest(), want["sha256"])
            if "media_type" in want:
                c.expect_equal(f"{label} media type", part.get_content_type(), want["media_type"])
    if "date" in expected:
        date = email.utils.parsedate_to_datetime(str(msg["date"]))
        tolerance = expected.get("date_tolerance", 2)
        if abs(date.timestamp() - expected["date"]) > tolerance:
            c.fail(f"Date {msg['date']} is not within {tolerance} s of {expected['date']}")
    present = {name for name, _, _ in fields}
    for name in expected.get("absent_headers", []):
        if name.lower().encode("ascii") in present:
            c.fail(f"header {name} is present")


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], "rb") as f:
        raw = f.read()
    expected = {}
    if len(argv) == 3:
        with open(argv[2], encoding="utf-8") as f:
            expected = json.load(f)
    max_header_line = expected.get("max_header_line", 78) or 998

    c = Checker()
    lint_line_ends(c, raw)
    msg = BytesParser(policy=email.policy.default).parsebytes(raw)
    boundaries = set()
    for part in msg.walk():
        if part.is_multipart() and part.get_boundary():
            b = part.get_boundary().encode("ascii", "surrogateescape")
            boundaries.update({b"--" + b, b"--" + b + b"--"})
    lines = split_lines(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    fields = []
    for index, block in enumerate(header_blocks(lines, boundaries)):
        fields += lint_headers(c, block, index == 0, max_header_line)
    lint_parts(c, msg)
    compare(c, msg, expected, fields)

    for problem in c.problems:
        print(f"{argv[1]}: {problem}", file=sys.stderr)
    return 1 if c.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
