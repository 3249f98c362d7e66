"""send_reminders when a server hangs up after a whole reminder, before its verdict: that
row is reported as "may have been sent", not as "not sent" (which invites sending it again
and a second copy), the summary counts it apart, the status is 1, and the other rows still
go out on a new connection.

Run by ctest with ENVOI_BUILD_DIR and ENVOI_SOURCE_DIR set; the server is a scripted peer.
"""

import re
import sys
import tempfile
from pathlib import Path

from line_peer import LinePeer
from reminders_run import run_send_reminders

VANISH_FOR = "zoe.marchand@example.test"


class VanishingPeer(LinePeer):
    """Takes every message, but hangs up without a reply after the one to VANISH_FOR; each
    delivered message's recipients are kept. Each site's client keeps its own connection
    open, so each connection gets its own thread."""

    def __init__(self):
        self.delivered = []
        super().__init__(concurrent=True)

    def session(self, conn, lines):
        conn.sendall(b"220 peer.test ESMTP\r\n")
        recipients = []
        while True:
            line = lines.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                conn.sendall(b"250-peer.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb in (b"MAIL", b"RSET"):
                recipients = []
                conn.sendall(b"250 2.0.0 ok\r\n")
            elif verb == b"RCPT":
                recipients.append(line.split(b"<", 1)[1].split(b">", 1)[0].decode())
                conn.sendall(b"250 2.1.5 ok\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go ahead\r\n")
                while lines.readline() not in (b".\r\n", b""):
                    pass
                if VANISH_FOR in recipients:
                    return
                self.delivered.append(recipients)
                conn.sendall(b"250 2.0.0 queued\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 2.0.0 bye\r\n")
                return
            else:
                conn.sendall(b"502 5.5.2 not here\r\n")


def config_for(port, folder):
    path = Path(folder) / "envoi.toml"
    sites = ""
    for site, sender in (("sud", "clinic@example.test"), ("nord", "staff@example.test")):
        sites += f"""
[sites.{site}]
name = "Clinique {site}"
from = "{sender}"
bcc_copy = "verification-{site}@example.test"
[sites.{site}.smtp]
host = "127.0.0.1"
port = {port}
security = "none"
"""
    path.write_text(sites)
    return path


def main():
    peer = VanishingPeer()
    failures = []
    try:
        with tempfile.TemporaryDirectory(prefix="envoi-unknown-") as folder:
            result = run_send_reminders(config_for(peer.port, folder), "", "")
    finally:
        peer.close()
    out = result.stdout
    print(out, result.stderr)
    lines = out.splitlines()
    mine = [l for l in lines if VANISH_FOR in l]
    if not (len(mine) == 1 and "may have been sent to " + VANISH_FOR in mine[0]
            and "check before sending it again" in mine[0]):
        failures.append(f"the row without a verdict: {mine}")
    if any(l.startswith("not sent") or ": not sent " + VANISH_FOR in l for l in lines):
        failures.append("the row without a verdict called not sent")
    summary = lines[-1] if lines else ""
    match = re.fullmatch(r"(\d+) accepted, 0 refused, 1 invalid, 1 with no verdict "
                         r"\(do not send them again\)", summary)
    if not match:
        failures.append(f"summary {summary!r}")
    accepted = [l for l in lines if ": accepted " in l]
    # Every other valid row went out: the peer counted each message once.
    if match and int(match.group(1)) != len(accepted):
        failures.append(f"summary counts {match.group(1)}, {len(accepted)} accepted lines")
    if len(peer.delivered) != len(accepted):
        failures.append(f"{len(peer.delivered)} messages at the peer, {len(accepted)} accepted")
    if result.returncode != 1:
        failures.append(f"exit {result.returncode}")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
