"""`envoi preset ADDRESS`, the command-line contract: the suggested settings are printed
as a site ready to paste into envoi.toml, with the notes as TOML comments, so the whole
output loads with Python's tomllib and with envoi's own configuration reader; exit 0 when
settings are found, 1 when nothing is known, 2 for a bad address or relay, 3 when DNS
did not answer. DNS look-ups go to a dnsmasq started here on a free loopback port.

Run by ctest with ENVOI_BUILD_DIR and ENVOI_SOURCE_DIR set.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

BUILD = Path(os.environ["ENVOI_BUILD_DIR"])
ENVOI = BUILD / "tools" / "envoi" / "envoi"
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)


def envoi(*args, stdin=b""):
    return subprocess.run([str(ENVOI), *args], input=stdin, capture_output=True, timeout=60)


def free_port():
    """A loopback port free for both TCP and UDP (never 2024, another service's)."""
    while True:
        with socket.socket() as tcp, socket.socket(type=socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            if port != 2024:
                return port


def start_dnsmasq(*records):
    """dnsmasq answering names under .test from `records` alone; (process, port)."""
    port = free_port()
    proc = subprocess.Popen(
        ["/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
         "--no-hosts", "--no-poll", "--pid-file=", "--listen-address=127.0.0.1",
         "--bind-interfaces", f"--port={port}", "--local=/test/", *records],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Ready once a query over UDP is answered (a TCP probe would leave dnsmasq a child
    # process per connection).
    query = bytes([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5]) + b"ready\x04test\x00\x00\x01\x00\x01"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with socket.socket(type=socket.SOCK_DGRAM) as s:
            s.settimeout(0.1)
            try:
                s.sendto(query, ("127.0.0.1", port))
                s.recv(512)
                return proc, port
            except OSError:
                time.sleep(0.02)
    proc.kill()
    raise RuntimeError("dnsmasq did not start")


def loads(stdout, what):
    """The printed settings as TOML, or None (and a failure) when they do not load."""
    try:
        return tomllib.loads(stdout.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        check(False, f"{what}: output is not TOML ({e}):\n{stdout.decode(errors='replace')}")
        return None


def loads_in_envoi(stdout, what):
    """envoi itself reads the printed site: a dry run with it as the config succeeds."""
    work = Path(tempfile.mkdtemp(prefix="envoi-preset-"))
    try:
        config = work / "envoi.toml"
        config.write_bytes(stdout)
        r = envoi("send", "--config", str(config), "--to", "client@example.test", "--subject",
                  "Rappel", "--text", "-", "--dry-run", stdin=b"Bonjour\n")
        check(r.returncode == 0, f"{what}: envoi does not load the settings: {r.stderr.decode()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    # Free: implicit TLS on 465, and the part before the @ as login.
    r = envoi("preset", "--no-dns", "prenom.nom@free.fr")
    check(r.returncode == 0, f"free.fr: exit {r.returncode}: {r.stderr.decode()}")
    doc = loads(r.stdout, "free.fr")
    if doc:
        smtp = doc["sites"]["ID"]["smtp"]
        check(smtp == {"host": "smtp.free.fr", "port": 465, "security": "tls", "auth": "auto",
                       "login": "prenom.nom", "password_env": "ENVOI_ID_PASSWORD"},
              f"free.fr settings {smtp}")
        check(doc["sites"]["ID"]["from"] == "prenom.nom@free.fr", f"from {doc['sites']}")
    check(b"before the @" in r.stdout, "free.fr: no note about the login")
    loads_in_envoi(r.stdout, "free.fr")

    # Gmail under another site name: the notes tell how to get an app password.
    r = envoi("preset", "--no-dns", "--site", "sud", "Clinique du Sud <accueil@gmail.com>")
    doc = loads(r.stdout, "gmail.com")
    if doc:
        smtp = doc["sites"]["sud"]["smtp"]
        check(smtp["host"] == "smtp.gmail.com" and smtp["login"] == "accueil@gmail.com",
              f"gmail settings {smtp}")
        check(smtp["password_env"] == "ENVOI_SUD_PASSWORD", f"gmail password_env {smtp}")
    check(b"app password" in r.stdout, "gmail: no app-password note")
    check(b"replace sud" not in r.stdout, "gmail: asked to replace the site name given")
    loads_in_envoi(r.stdout, "gmail.com")

    # Outlook.com takes no password: no password line that would load and then fail at the
    # server, but XOAUTH2 and the table to fill, without which envoi refuses the site.
    r = envoi("preset", "--no-dns", "--site", "sud", "accueil@outlook.com")
    check(r.returncode == 0, f"outlook.com: exit {r.returncode}: {r.stderr.decode()}")
    doc = loads(r.stdout, "outlook.com")
    if doc:
        smtp = doc["sites"]["sud"]["smtp"]
        check(smtp.get("auth") == "xoauth2" and "password_env" not in smtp,
              f"outlook.com settings {smtp}")
    check(b'# [sites.sud.smtp.oauth2]\n' in r.stdout
          and b'# refresh_token_env = "ENVOI_SUD_REFRESH_TOKEN"' in r.stdout,
          f"outlook.com: no oauth2 table to fill: {r.stdout.decode()}")
    work = Path(tempfile.mkdtemp(prefix="envoi-preset-"))
    try:
        (work / "envoi.toml").write_bytes(r.stdout)
        r = envoi("send", "--config", str(work / "envoi.toml"), "--to", "client@example.test",
                  "--subject", "Rappel", "--text", "-", "--dry-run", stdin=b"Bonjour\n")
        check(r.returncode == 2 and b"an [oauth2] table" in r.stderr,
              f"outlook.com unfilled: exit {r.returncode}: {r.stderr.decode()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    # The address as typed heads the output, an internationalised domain included.
    r = envoi("preset", "--no-dns", "accueil@café.fr")
    check(r.stderr.decode().startswith("# No settings known for accueil@café.fr."),
          f"café.fr: {r.stderr.decode()}")
    check(r.stdout == b"", f"café.fr: advice on stdout, where > envoi.toml would take it")
    # An empty relay name is a mistake, not "no relay".
    r = envoi("preset", "--relay", "", "rappels@clinique-veto.test")
    check(r.returncode == 2 and b"no relay called" in r.stderr,
          f"empty relay: exit {r.returncode}: {r.stderr.decode()}")

    # A relay by name: Mailjet's login is the API key, a placeholder to replace.
    r = envoi("preset", "--relay", "mailjet", "rappels@clinique-veto.test")
    check(r.returncode == 0, f"mailjet: exit {r.returncode}")
    doc = loads(r.stdout, "mailjet")
    if doc:
        smtp = doc["sites"]["ID"]["smtp"]
        check(smtp["host"] == "in-v3.mailjet.com" and smtp["login"] == "MAILJET_API_KEY",
              f"mailjet settings {smtp}")
    check(b"API secret key" in r.stdout, "mailjet: the password is not named")

    # A clinic's own domain whose mail Microsoft 365 receives (MX), through dnsmasq.
    dns, port = start_dnsmasq("--mx-host=clinique-veto.test,clinique-veto-test.mail.protection.outlook.com,0",
                              "--srv-host=_submissions._tcp.cabinet.test,smtp.cabinet.test,465,0,0")
    try:
        r = envoi("preset", "--dns-server", f"127.0.0.1:{port}", "accueil@clinique-veto.test")
        check(r.returncode == 0, f"mx: exit {r.returncode}: {r.stderr.decode()}")
        doc = loads(r.stdout, "mx")
        if doc:
            check(doc["sites"]["ID"]["smtp"]["host"] == "smtp.office365.com", f"mx settings {doc}")
        check(b"December 2026" in r.stdout, "mx: no note on Microsoft's December 2026 change")
        # Microsoft 365 is OAuth2 from December 2026: the table to fill, as for Outlook.com.
        check(b'auth = "xoauth2"' in r.stdout and b"# [sites.ID.smtp.oauth2]" in r.stdout,
              f"mx: no oauth2 table to fill: {r.stdout.decode()}")

        r = envoi("preset", "--dns-server", f"127.0.0.1:{port}", "accueil@cabinet.test")
        doc = loads(r.stdout, "srv")
        if doc:
            smtp = doc["sites"]["ID"]["smtp"]
            check((smtp["host"], smtp["port"], smtp["security"]) == ("smtp.cabinet.test", 465, "tls"),
                  f"srv settings {smtp}")

        # Nothing known: said plainly, with what to ask the provider; exit 1.
        r = envoi("preset", "--dns-server", f"127.0.0.1:{port}", "accueil@inconnu.test")
        check(r.returncode == 1, f"unknown: exit {r.returncode}")
        check(b"No settings known" in r.stderr and b"Ask your mail provider" in r.stderr,
              f"unknown: {r.stderr.decode()}")
        check(r.stdout == b"", f"unknown: stdout {r.stdout.decode()}")
    finally:
        dns.terminate()
        dns.wait(timeout=10)

    # DNS down (nothing listens there now): exit 3, said plainly, quickly.
    r = envoi("preset", "--dns-server", f"127.0.0.1:{port}", "accueil@inconnu.test")
    check(r.returncode == 3 and b"did not answer" in r.stderr,
          f"dns down: exit {r.returncode}: {r.stderr.decode()}")

    # Not an address: exit 2 and a message naming the problem; an unknown relay likewise.
    r = envoi("preset", "not an address")
    check(r.returncode == 2 and b"missing @" in r.stderr, f"bad address: exit {r.returncode}")
    check(r.stdout == b"", "bad address: something on stdout")
    r = envoi("preset", "--relay", "nosuchrelay", "a@example.test")
    check(r.returncode == 2 and b"brevo" in r.stderr, f"bad relay: exit {r.returncode}")
    r = envoi("preset")
    check(r.returncode == 2, f"no address: exit {r.returncode}")

    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
