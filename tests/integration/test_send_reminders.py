"""The main job end to end: the sample appointments go through the test Postfix
(STARTTLS on the submission port, AUTH) with the send_reminders example, and every
delivered file is read back with Python's email package.

Run by ctest with ENVOI_TEST_SERVER_DIR (the running test server), ENVOI_BUILD_DIR and
ENVOI_SOURCE_DIR set.
"""

import csv
import datetime
import email.policy
import hashlib
import re
import sys
import time
from email.parser import BytesParser
from pathlib import Path

from reminders_run import (CSV_FILE, DATA, delivered_files, run_send_reminders, server_settings,
                           wait_for_deliveries, write_config)

PDF_NAME = "Conseils avant la visite – été.pdf"
PDF = DATA / PDF_NAME
SITES = {
    "sud": ("Clinique vétérinaire du Sud", "clinic@example.test", "verification-sud@example.test"),
    "nord": ("Clinique des Quatre-Chemins", "staff@example.test", "verification-nord@example.test"),
}
DAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
          "septembre", "octobre", "novembre", "décembre"]
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)


def french_date(when):
    day = "1er" if when.day == 1 else str(when.day)
    return f"{DAYS[when.weekday()]} {day} {MONTHS[when.month - 1]} {when.year}"


def french_time(when):
    return f"{when.hour} h" if when.minute == 0 else f"{when.hour} h {when.minute:02d}"


def header(raw, name):
    match = re.search(rb"^" + name.encode() + rb": (.*)$", raw, re.M | re.I)
    return match.group(1).decode().strip() if match else None


def main():
    env = server_settings()
    maildir = env["ENVOI_TEST_MAILDIR"]
    log = Path(env["ENVOI_TEST_POSTFIX_LOG"])

    config = write_config(env)
    before = delivered_files(maildir)
    log_before = log.read_bytes() if log.exists() else b""
    result = run_send_reminders(config, env["ENVOI_TEST_PASSWORD"], env["ENVOI_TEST_PASSWORD2"],
                                "--attach", str(PDF))
    print(result.stdout)
    print(result.stderr, file=sys.stderr)

    # What the file asks for, read independently of envoi.
    with open(CSV_FILE, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    valid = [(i + 2, r) for i, r in enumerate(rows) if r["email"].count("@") == 1]
    invalid = [(i + 2, r) for i, r in enumerate(rows) if r["email"].count("@") != 1]
    check(len(rows) >= 20 and len(invalid) == 1, f"sample: {len(rows)} rows, {len(invalid)} invalid")

    # The program: one line per row, the invalid one refused, then the summary; status 1.
    lines = result.stdout.splitlines()
    check(result.returncode == 1, f"exit status {result.returncode}, expected 1")
    check(lines[-1:] == [f"{len(valid)} accepted, 0 refused, 1 invalid"], f"summary: {lines[-1:]}")
    for line_no, row in valid:
        check(any(l.startswith(f"line {line_no}: accepted {row['email']} (250 ")
                  and "queued as" in l for l in lines), f"no accepted line for row {line_no}")
    bad_line, bad_row = invalid[0]
    check(any(l.startswith(f"line {bad_line}: invalid email: ") for l in lines),
          f"no invalid line for row {bad_line}")

    # Every file: the clients' and the verification copies.
    expected = 2 * len(valid)
    files = wait_for_deliveries(maildir, before, expected)
    check(len(files) == expected, f"{len(files)} files delivered, expected {expected}")
    by_recipient = {}
    for path in files:
        raw = path.read_bytes()
        by_recipient.setdefault(header(raw, "Delivered-To"), []).append(raw)

    pdf_bytes = PDF.read_bytes()
    for line_no, row in valid:
        got = by_recipient.get(row["email"], [])
        check(len(got) == 1, f"row {line_no}: {len(got)} messages for {row['email']}")
        if not got:
            continue
        raw = got[0]
        msg = BytesParser(policy=email.policy.default).parsebytes(raw)
        clinic, sender, _ = SITES[row["site"]]
        when = datetime.datetime.fromisoformat(row["appointment"])
        pet = row["pet_name"]
        of_pet = f"d'{pet}" if pet[0].lower() in "aeiouyàâéèêîô" else f"de {pet}"
        subject = (f"Rappel : rendez-vous {of_pet} le {french_date(when)} "
                   f"à {french_time(when)}")
        check(msg["subject"] == subject, f"row {line_no}: subject {msg['subject']!r} != {subject!r}")
        to = msg["to"].addresses
        check(len(to) == 1 and to[0].display_name == row["client_name"]
              and to[0].addr_spec == row["email"], f"row {line_no}: To {msg['to']!r}")
        frm = msg["from"].addresses
        check(len(frm) == 1 and frm[0].display_name == clinic and frm[0].addr_spec == sender,
              f"row {line_no}: From {msg['from']!r}")
        check(msg["bcc"] is None and not re.search(rb"^bcc:", raw, re.I | re.M),
              f"row {line_no}: a Bcc header was delivered")
        # Postfix's Received header shows the session was encrypted and authenticated.
        check(b"using TLS" in raw and f"Authenticated sender: {sender}".encode() in raw,
              f"row {line_no}: not sent over TLS with AUTH")
        body = msg.get_body(preferencelist=("plain",)).get_content()
        for piece in (row["pet_name"], french_date(when), french_time(when), clinic):
            check(piece in body, f"row {line_no}: body lacks {piece!r}")
        attachments = list(msg.iter_attachments())
        check(len(attachments) == 1, f"row {line_no}: {len(attachments)} attachments")
        if attachments:
            part = attachments[0]
            check(part.get_filename() == PDF_NAME, f"row {line_no}: file name {part.get_filename()!r}")
            check(part.get_content_type() == "application/pdf", f"row {line_no}: type")
            check(hashlib.sha256(part.get_content()).digest() == hashlib.sha256(pdf_bytes).digest(),
                  f"row {line_no}: attachment bytes differ")

    # The verification copies: one per valid row of each site, the same message.
    for site, (_, _, copy) in SITES.items():
        count = sum(1 for _, r in valid if r["site"] == site)
        check(len(by_recipient.get(copy, [])) == count,
              f"{copy}: {len(by_recipient.get(copy, []))} copies, expected {count}")

    # The invalid row never reached the server: its address is nowhere in the server's
    # log, and the server saw one connection per site, none for that row.
    time.sleep(0.2)
    new_log = log.read_bytes()[len(log_before):] if log.exists() else b""
    check(bad_row["email"].encode() not in new_log, "the invalid address reached the server")
    connects = len(re.findall(rb"postfix/submission/smtpd\[\d+\]: connect from", new_log))
    check(connects == len(SITES), f"{connects} connections to the submission port, expected {len(SITES)}")

    for f in failures:
        print("FAIL:", f)
    if not failures:
        print(f"ok: {len(valid)} reminders and {len(valid)} copies delivered and read back")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
