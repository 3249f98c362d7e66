"""`envoi send` through the account the configuration's sites and users give, against the
test Postfix, with implicit TLS (port 465 style) as well as STARTTLS: every exit status,
the reason for the account printed on stderr, and what the server received.

Sud shares one account for the site and its users (STARTTLS); Nord does not (implicit
TLS). Marie works at both sites and has her own account (implicit TLS, the server's second
user); Paul works at Nord and has none.

Run by ctest with ENVOI_TEST_SERVER_DIR, ENVOI_BUILD_DIR and ENVOI_SOURCE_DIR set.
"""

import atexit
import base64
import email.policy
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from email.parser import BytesParser
from pathlib import Path

from reminders_run import BUILD, server_settings

ENVOI = BUILD / "tools" / "envoi" / "envoi"
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)


def config_text(s, nord_port):
    return f"""
[sites.sud]
name = "Clinique du Sud"
from = "Clinique du Sud <{s['ENVOI_TEST_USER']}>"
[sites.sud.smtp]
host = "{s['ENVOI_TEST_HOST']}"
port = {s['ENVOI_TEST_SUBMISSION_PORT']}
security = "starttls"
password_env = "ENVOI_SUD_PASSWORD"
ca_file = "{s['ENVOI_TEST_CA']}"

[sites.nord]
name = "Clinique du Nord"
from = "Clinique du Nord <{s['ENVOI_TEST_USER']}>"
shared_account = false
[sites.nord.smtp]
host = "{s['ENVOI_TEST_HOST']}"
port = {nord_port}
security = "tls"
password_env = "ENVOI_SUD_PASSWORD"
ca_file = "{s['ENVOI_TEST_CA']}"

[users.marie]
sites = ["sud", "nord"]
from = "Dr Marie Dupont <{s['ENVOI_TEST_USER2']}>"
[users.marie.smtp]
host = "{s['ENVOI_TEST_HOST']}"
port = {nord_port}
security = "tls"
password_env = "ENVOI_MARIE_PASSWORD"
ca_file = "{s['ENVOI_TEST_CA']}"

[users.paul]
site = "nord"
from = "paul@example.test"
"""


def delivered_since(maildir, before, count, limit=10.0):
    """The files that arrived in the Maildir after `before`, once there are `count`."""
    deadline = time.monotonic() + limit
    while True:
        new = sorted(set((maildir / "new").iterdir()) - before)
        if len(new) >= count or time.monotonic() > deadline:
            return new
        time.sleep(0.1)


def main():
    s = server_settings()
    work = Path(tempfile.mkdtemp(prefix="envoi-cli-accounts-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    config = work / "envoi.toml"
    config.write_text(config_text(s, s["ENVOI_TEST_SMTPS_PORT"]))
    maildir = Path(s["ENVOI_TEST_MAILDIR"])
    env = dict(os.environ, ENVOI_SUD_PASSWORD=s["ENVOI_TEST_PASSWORD"],
               ENVOI_MARIE_PASSWORD=s["ENVOI_TEST_PASSWORD2"])

    printed = []

    def envoi(*args, config_file=config):
        r = subprocess.run(
            [str(ENVOI), "send", "--config", str(config_file), "--subject",
             "Compte rendu de la visite de Médor", "--text", "-", "--transcript", "--log", "debug", *args],
            input="Bonjour,\nvoici le compte rendu.\n".encode(), capture_output=True,
            env=env, timeout=60)
        printed.append(r.stdout.decode() + r.stderr.decode())
        return r

    # Correspondence on an unshared site: Marie's own account, over implicit TLS.
    before = set((maildir / "new").iterdir())
    r = envoi("--site", "nord", "--user", "marie", "--to", "helene@example.test")
    err = r.stderr.decode()
    check(r.returncode == 0, f"marie at nord: exit {r.returncode}: {err}")
    check(f"account: account of marie <{s['ENVOI_TEST_USER2']}>: Clinique du Nord does not "
          "share its account" in err, f"no reason line:\n{err}")
    check("C: STARTTLS" not in err and "* TLS established" in err.split("C: EHLO")[0],
          f"not implicit TLS:\n{err}")
    files = delivered_since(maildir, before, 1)
    check(len(files) == 1, f"{len(files)} files delivered for marie's mail")
    if files:
        msg = BytesParser(policy=email.policy.default).parsebytes(files[0].read_bytes())
        check(msg["from"].addresses[0].addr_spec == s["ENVOI_TEST_USER2"],
              f"From {msg['from']}")
        check(msg["from"].addresses[0].display_name == "Dr Marie Dupont", f"From {msg['from']}")

    # The same user on the shared site: the site's account, over STARTTLS.
    r = envoi("--site", "sud", "--user", "marie", "--to", "helene@example.test")
    err = r.stderr.decode()
    check(r.returncode == 0, f"marie at sud: exit {r.returncode}: {err}")
    check("account: site account of Clinique du Sud: shared with all its users" in err, err)
    check("C: STARTTLS" in err, f"no STARTTLS for sud:\n{err}")
    # The library's log: the step events, and the dialogue at debug level.
    for event in ("log: info smtp.tls version=TLSv1.", "log: info smtp.authenticated mechanism=",
                  f"log: info smtp.sent from={s['ENVOI_TEST_USER']} recipients=1 accepted=1",
                  "log: debug smtp.line direction=sent text=STARTTLS"):
        check(event in err, f"no {event!r} in:\n{err}")

    # A reminder always goes through the site's account, whoever asks.
    r = envoi("--site", "nord", "--user", "paul", "--purpose", "reminder", "--to",
              "helene@example.test")
    err = r.stderr.decode()
    check(r.returncode == 0, f"reminder at nord: exit {r.returncode}: {err}")
    check("site account of Clinique du Nord: reminders are sent in the clinic's name" in err, err)

    # A recipient refused for good, over implicit TLS: exit 1.
    r = envoi("--site", "nord", "--user", "marie", "--to", "unknown.client@example.test",
              "--to", "helene@example.test")
    check(r.returncode == 1 and b"550 5.1.1" in r.stderr,
          f"refused recipient: exit {r.returncode}: {r.stderr.decode()}")

    # Configuration and usage errors: exit 2, naming the option and what to change.
    r = envoi("--site", "nord", "--user", "paul", "--to", "helene@example.test")
    err = r.stderr.decode()
    check(r.returncode == 2 and "--user: paul has no SMTP account of their own" in err
          and "add [users.paul.smtp]" in err, f"paul at nord: exit {r.returncode}: {err}")
    r = envoi("--user", "marie", "--to", "helene@example.test")
    check(r.returncode == 2 and b"--site: the config has 2 sites (nord, sud); name one" in r.stderr,
          f"marie without a site: exit {r.returncode}: {r.stderr.decode()}")
    r = envoi("--site", "ouest", "--to", "helene@example.test")
    check(r.returncode == 2 and b"--site: no site \"ouest\"" in r.stderr,
          f"unknown site: exit {r.returncode}: {r.stderr.decode()}")
    r = envoi("--site", "nord", "--user", "marie", "--to", "pas une adresse")
    check(r.returncode == 2 and b"--to" in r.stderr,
          f"bad address: exit {r.returncode}: {r.stderr.decode()}")

    # An implicit-TLS server that cannot be reached: exit 3, nothing lost.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    unreachable = work / "unreachable.toml"
    unreachable.write_text(config_text(s, closed))
    r = envoi("--site", "nord", "--user", "marie", "--to", "helene@example.test",
              config_file=unreachable)
    check(r.returncode == 3, f"unreachable: exit {r.returncode}: {r.stderr.decode()}")

    # A configured port 25 draws a warning (a dry run, so nothing connects).
    port25 = work / "port25.toml"
    port25.write_text(config_text(s, s["ENVOI_TEST_SMTPS_PORT"]).replace(
        f"port = {s['ENVOI_TEST_SUBMISSION_PORT']}", "port = 25"))
    r = envoi("--site", "sud", "--to", "helene@example.test", "--dry-run", config_file=port25)
    check(r.returncode == 0 and "warning: " in r.stderr.decode() and "[port_25]" in r.stderr.decode(),
          f"port 25: exit {r.returncode}: {r.stderr.decode()}")

    # No secret anywhere in what the runs printed, transcripts included.
    secrets = []
    for user, password in ((s["ENVOI_TEST_USER"], s["ENVOI_TEST_PASSWORD"]),
                           (s["ENVOI_TEST_USER2"], s["ENVOI_TEST_PASSWORD2"])):
        secrets += [password, base64.b64encode(password.encode()).decode(),
                    base64.b64encode(f"\0{user}\0{password}".encode()).decode()]
    for secret in secrets:
        check(all(secret not in out for out in printed), "a password in the output")
    check(len(printed) == 10, f"{len(printed)} runs")

    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
