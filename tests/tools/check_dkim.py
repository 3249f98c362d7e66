#!/usr/bin/python3
"""Checks a message's DKIM signature with dkimpy (Debian's python3-dkim), an
implementation that shares nothing with envoi.

usage: check_dkim.py MESSAGE_FILE DNS_NAME TXT_RECORD

The public key is served from TXT_RECORD for DNS_NAME (SELECTOR._domainkey.DOMAIN), so no
DNS is needed. Prints the signed header names ("h=from:to:...") of each signature, then
"verified" or "not verified", and exits 0 only when the first signature verifies.
"""
import io
import logging
import sys

import dkim
import dkim.util


def main():
    path, name, record = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(path, "rb") as f:
        data = f.read()

    def dns(qname, timeout=5):
        return record.encode() if qname.decode().rstrip(".") == name else None

    log = io.StringIO()
    logger = logging.getLogger("check_dkim")
    logger.addHandler(logging.StreamHandler(log))
    logger.setLevel(logging.DEBUG)
    ok = dkim.DKIM(data, logger=logger, debug_content=True).verify(dnsfunc=dns)
    if not ok:
        print(log.getvalue())
    header = data.split(b"\r\n\r\n", 1)[0]
    unfolded = header.replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")
    for line in unfolded.split(b"\r\n"):
        if line.lower().startswith(b"dkim-signature:"):
            tags = dkim.util.parse_tag_value(line.split(b":", 1)[1].strip())
            print("h=" + b"".join(tags[b"h"].split()).decode().lower())
    print("verified" if ok else "not verified")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
