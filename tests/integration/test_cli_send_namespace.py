"""`envoi send` where the test needs a network namespace of its own (`unshare --net`), so
that nothing leaves this machine and no port of the host is taken:

- An account with `security = "none"` and a login gives its password to a server on
  loopback (a local relay), and to no other machine, whatever the server offers. The other
  machine is an address that is not loopback (10.77.0.1) on the namespace's loopback
  interface; each run talks to a scripted server that offers AUTH PLAIN and LOGIN and
  records every line it is sent.
- `security = "starttls"` on port 465, where servers wait in silence for a TLS handshake,
  gives up on the greeting after 15 seconds instead of a minute, with the hint; on 587,
  the port of STARTTLS, a silent server gets no such hint.

Needs root, for the namespace; skipped (77) where none can be made.

Run by ctest with ENVOI_BUILD_DIR set.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from line_peer import LinePeer

BUILD = Path(os.environ.get("ENVOI_BUILD_DIR", "build/dev"))
ENVOI = BUILD / "tools" / "envoi" / "envoi"
OTHER_MACHINE = "10.77.0.1"
PASSWORD = "Mot-de-passe-été-2026"
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)


class AuthPeer(LinePeer):
    """An SMTP server without TLS that offers AUTH PLAIN and LOGIN, accepts any
    credentials and any message, and keeps every line it receives."""

    def __init__(self, address):
        self.lines = []
        super().__init__(address)

    def session(self, conn, lines):
        conn.sendall(b"220 relay.test ESMTP\r\n")
        in_data = False
        while True:
            line = lines.readline()
            if not line:
                return
            self.lines.append(line)
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    conn.sendall(b"250 2.0.0 queued\r\n")
                continue
            verb = line[:4].upper()
            if verb == b"EHLO":
                conn.sendall(b"250-relay.test\r\n250 AUTH PLAIN LOGIN\r\n")
            elif verb == b"AUTH":
                conn.sendall(b"235 2.7.0 ok\r\n")
            elif verb in (b"MAIL", b"RCPT", b"RSET"):
                conn.sendall(b"250 2.0.0 ok\r\n")
            elif verb == b"DATA":
                in_data = True
                conn.sendall(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 2.0.0 bye\r\n")
                return
            else:
                conn.sendall(b"502 5.5.2 not here\r\n")

    def saw_auth(self):
        return any(line[:4].upper() == b"AUTH" for line in self.lines)


def send_to(address, work):
    """Runs `envoi send` to a fresh AuthPeer on `address`; returns (exit, stderr, peer)."""
    peer = AuthPeer(address)
    config = work / f"{address}.toml"
    config.write_text(f"""[sites.relay]
from = "sud@example.test"
[sites.relay.smtp]
host = "{address}"
port = {peer.port}
security = "none"
login = "sud@example.test"
password_env = "ENVOI_RELAY_PASSWORD"
""")
    r = subprocess.run([str(ENVOI), "send", "--config", str(config), "--to",
                        "helene@example.test", "--subject", "Rappel", "--text", "-"],
                       input="Bonjour,\n".encode(), capture_output=True, timeout=60,
                       env=dict(os.environ, ENVOI_RELAY_PASSWORD=PASSWORD))
    peer.close()
    return r.returncode, r.stderr.decode(), peer


def silent_send(work, port, extra=""):
    """`envoi send` with starttls to a server on `port` that never says a word; returns
    (exit status, stderr, seconds taken)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", port))
        silent.listen(1)
        config = work / f"{port}.toml"
        config.write_text(f"""[sites.sud]
from = "sud@example.test"
[sites.sud.smtp]
host = "127.0.0.1"
port = {port}
security = "starttls"
""" + extra)
        started = time.monotonic()
        r = subprocess.run([str(ENVOI), "send", "--config", str(config), "--to",
                            "helene@example.test", "--subject", "Rappel", "--text", "-"],
                           input=b"Bonjour,\n", capture_output=True, timeout=120)
        elapsed = time.monotonic() - started
    return r.returncode, r.stderr.decode(), elapsed


def silent_servers(work):
    """A silent server on 465, the port of implicit TLS, reached with starttls: given up
    on within 15 s, with the hint. On 587, STARTTLS's own port, silence is no sign of TLS:
    no such hint."""
    code, err, elapsed = silent_send(work, 465)
    check(code == 3, f"starttls on 465: exit {code}, not 3: {err}")
    check("[starttls_on_465]" in err, f"starttls on 465: no warning: {err}")
    check("set security to tls" in err, f"starttls on 465: no hint: {err}")
    check(12 <= elapsed <= 30, f"starttls on 465: gave up after {elapsed:.0f} s, not about 15")

    code, err, _ = silent_send(work, 587, "[sites.sud.smtp.timeouts]\ngreeting = 2\n")
    check(code == 3 and "the server took the connection but said nothing" in err,
          f"silent 587: exit {code}: {err}")
    check("set security to tls" not in err, f"silent 587: told to use tls: {err}")


def inside_namespace():
    """The checks, run in a network namespace where OTHER_MACHINE is a local address."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", OTHER_MACHINE + "/32", "dev", "lo"], check=True)
    with tempfile.TemporaryDirectory(prefix="envoi-plaintext-auth-") as d:
        work = Path(d)

        code, err, peer = send_to("127.0.0.1", work)
        check(code == 0, f"to a relay on loopback: exit {code}: {err}")
        check(peer.saw_auth(), f"no AUTH to the relay on loopback: {peer.lines}")

        code, err, peer = send_to(OTHER_MACHINE, work)
        # A configuration error: only the account's settings can fix it.
        check(code == 2, f"to {OTHER_MACHINE} without TLS: exit {code}, not 2: {err}")
        check(not peer.saw_auth(), f"AUTH sent to {OTHER_MACHINE} without TLS: {peer.lines}")
        check(not any(line.startswith((b"MAIL", b"DATA")) for line in peer.lines),
              f"the message went to {OTHER_MACHINE} without its login: {peer.lines}")
        check("credentials are never sent unencrypted to another machine" in err,
              f"no reason given: {err}")
        check(f"{OTHER_MACHINE} is not this machine, and security \"none\" would send the "
              "password unencrypted; set the account's security to starttls or tls" in err,
              f"no hint: {err}")
        # Nothing to connect for: the address alone settles it.
        check(peer.connections == 0, f"{peer.connections} connections to {OTHER_MACHINE}")
        check(PASSWORD not in err, f"the password was printed: {err}")

        silent_servers(work)
    return 1 if failures else 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--inside":
        status = inside_namespace()
        for f in failures:
            print("FAIL:", f)
        return status
    # ctest counts 77 as skipped: without root, or where namespaces are not allowed.
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        print("SKIP: cannot make a network namespace here (needs root): " + probe.stderr)
        return 77
    r = subprocess.run(["unshare", "--net", sys.executable, __file__, "--inside"])
    if r.returncode == 0:
        print("ok: the password went to the relay on loopback and to no other machine; "
              "starttls on 465 gave up on the greeting within 15 s")
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
