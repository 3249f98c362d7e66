"""`envoi send`, the command-line contract: --dry-run prints the exact message and the
envelope and connects to nothing; a real send through the test Postfix exits 0 when every
recipient is accepted, 1 when one is refused, 2 for a usage or configuration error or a
server that is not SMTP, 3 when the server cannot be reached or refuses every recipient for
now, and 4 when the message went out but its verdict never came (scripted peers);
--transcript shows the dialogue on stderr without the password.

Run by ctest with ENVOI_TEST_SERVER_DIR, ENVOI_BUILD_DIR and ENVOI_SOURCE_DIR set.
"""

import base64
import email.policy
import os
import socket
import subprocess
import sys
import time
from email.parser import BytesParser

from line_peer import LinePeer
from reminders_run import BUILD, DATA, server_settings, write_config

ENVOI = BUILD / "tools" / "envoi" / "envoi"
PDF = DATA / "Conseils avant la visite – été.pdf"
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)


def envoi(*args, stdin=b"", env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([str(ENVOI), *args], input=stdin, capture_output=True, env=env,
                          timeout=60)


class RefusingPeer(LinePeer):
    """An SMTP server on loopback, without TLS or AUTH, that answers RCPT by the local part:
    busy... 450 (for now), nobody... 550 (for good), closing... 421 and it hangs up,
    anything else 250; it takes the message and counts the recipients each one went to,
    except when a recipient is vanish...: then it hangs up after the message, without a
    reply."""

    def __init__(self):
        self.delivered = []
        self.vanished = []
        super().__init__()

    def session(self, conn, lines):
        conn.sendall(b"220 peer.test ESMTP\r\n")
        accepted = []
        while True:
            line = lines.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                conn.sendall(b"250-peer.test\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n")
            elif verb in (b"MAIL", b"RSET"):
                accepted = []
                conn.sendall(b"250 2.0.0 ok\r\n")
            elif verb == b"RCPT":
                address = line.split(b"<", 1)[1].split(b">", 1)[0].decode()
                if address.startswith("busy"):
                    conn.sendall(b"450 4.2.1 mailbox busy, try later\r\n")
                elif address.startswith("nobody"):
                    conn.sendall(b"550 5.1.1 no such user\r\n")
                elif address.startswith("closing"):
                    conn.sendall(b"421 4.3.2 shutting down\r\n")
                    return
                else:
                    accepted.append(address)
                    conn.sendall(b"250 2.1.5 ok\r\n")
            elif verb == b"DATA":
                if not accepted:
                    conn.sendall(b"554 5.5.1 no valid recipients\r\n")
                    continue
                conn.sendall(b"354 go ahead\r\n")
                while lines.readline() not in (b".\r\n", b""):
                    pass
                if any(a.startswith("vanish") for a in accepted):
                    self.vanished.extend(accepted)
                    return
                self.delivered.extend(accepted)
                conn.sendall(b"250 2.0.0 queued as P1\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 2.0.0 bye\r\n")
                return
            else:
                conn.sendall(b"502 5.5.2 not here\r\n")


def loopback_config(path, port, extra=""):
    """A config at `path` with one site whose server is 127.0.0.1:`port`, without TLS or a
    login (only loopback may do without); `extra` is appended as it is."""
    path.write_text(f"""[sites.peer]
from = "sud@example.test"
[sites.peer.smtp]
host = "127.0.0.1"
port = {port}
security = "none"
""" + extra)
    return path


def refusals_for_now(config_dir, body):
    """Exit statuses when recipients are refused for now (4xx): 3 only when nobody got the
    message; 1, naming whom to send it to again, when some did."""
    peer = RefusingPeer()
    config = loopback_config(config_dir / "peer.toml", peer.port)
    try:
        def send(*to):
            args = ["send", "--config", str(config), "--subject", "x", "--text", "-"]
            for address in to:
                args += ["--to", address]
            r = envoi(*args, stdin=body)
            return r.returncode, r.stderr.decode()

        code, err = send("busy1@example.test", "busy2@example.test")
        check(code == 3, f"every recipient busy: exit {code}: {err}")
        check("refused for now busy1@example.test: 450 4.2.1" in err, f"busy lines: {err}")
        check(peer.delivered == [], f"delivered with every recipient busy: {peer.delivered}")

        code, err = send("helene@example.test", "busy@example.test")
        check(code == 1, f"one accepted, one busy: exit {code}: {err}")
        check("accepted helene@example.test" in err, f"accepted line: {err}")
        check("send it again later to busy@example.test only" in err, f"no retry hint: {err}")
        check("envoi: 1 of 2 recipients got the message" in err, f"no summary: {err}")
        check(peer.delivered == ["helene@example.test"], f"delivered {peer.delivered}")

        for order in (("busy@example.test", "nobody@example.test"),
                      ("nobody@example.test", "busy@example.test")):
            code, err = send(*order)
            check(code == 1, f"busy and unknown {order}: exit {code}: {err}")
            check("refused for now busy@example.test: 450" in err and
                  "refused nobody@example.test: 550 5.1.1" in err,
                  f"busy and unknown {order}: each recipient's reply not shown: {err}")
            check("for now (4xx)" not in err.split("not sent:", 1)[-1],
                  f"a 550 called a refusal for now: {err}")
        check(peer.delivered == ["helene@example.test"], f"delivered {peer.delivered}")
    finally:
        peer.close()


class WebServer(LinePeer):
    """What a mistyped port may reach: a server that answers in HTTP, then hangs up."""

    def session(self, conn, lines):
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def outcomes_named(config_dir, body):
    """Each recipient's fate in words: not sent to an accepted address when the server hangs
    up before the message, "may have got it" and exit 4 when the message went out and no
    verdict came, both summary lines for a mix of accepted, busy and unknown, and exit 2
    with the host and port to check when the server is not a mail server."""
    peer = RefusingPeer()
    config = loopback_config(config_dir / "outcomes.toml", peer.port)

    def send(*to, config=config):
        args = ["send", "--config", str(config), "--subject", "x", "--text", "-"]
        for address in to:
            args += ["--to", address]
        r = envoi(*args, stdin=body)
        return r.returncode, r.stderr.decode()

    try:
        code, err = send("helene@example.test", "closing@example.test")
        check(code == 3, f"421 after RCPT: exit {code}: {err}")
        check("not sent to helene@example.test (its address was accepted: 250 2.1.5 ok)" in err
              and "accepted helene" not in err, f"421 after RCPT: the accepted address: {err}")
        check("envoi: not sent: rcpt failed: 421 4.3.2 shutting down" in err, f"421 line: {err}")
        check("not sent to closing@example.test (the session ended before the server answered "
              "for it)" in err, f"421 after RCPT: no line for the recipient it ended at: {err}")
        # A 421 to the first RCPT: every recipient still gets its line.
        code, err = send("closing@example.test", "helene@example.test")
        check(code == 3 and all(f"not sent to {a} (the session ended" in err
                                for a in ("closing@example.test", "helene@example.test")),
              f"421 to the first RCPT: exit {code}: {err}")

        code, err = send("helene@example.test", "vanish@example.test")
        check(code == 4, f"no reply after the message: exit {code}: {err}")
        check("may have got it helene@example.test" in err and
              "may have got it vanish@example.test" in err, f"no reply: recipients: {err}")
        check("envoi: outcome unknown: " in err and "do not send it again before checking" in err,
              f"no reply: no warning against sending twice: {err}")
        check("not sent:" not in err, f"no reply: called not sent: {err}")
        check(peer.vanished == ["helene@example.test", "vanish@example.test"],
              f"the peer did not get the whole message: {peer.vanished}")

        code, err = send("helene@example.test", "busy@example.test", "nobody@example.test")
        check(code == 1, f"accepted, busy and unknown: exit {code}: {err}")
        for line in ("envoi: 1 of 3 recipients got the message",
                     "envoi: send it again later to busy@example.test only",
                     "envoi: refused for good, not to be sent again as it is: nobody@example.test",
                     "refused nobody@example.test: 550 5.1.1 no such user (check the address)"):
            check(line in err, f"accepted, busy and unknown: no {line!r}: {err}")
        check(peer.delivered == ["helene@example.test"], f"delivered {peer.delivered}")
    finally:
        peer.close()

    web = WebServer()
    try:
        code, err = send("helene@example.test",
                         config=loopback_config(config_dir / "web.toml", web.port))
        check(code == 2, f"an HTTP server: exit {code}: {err}")
        check(f"127.0.0.1 port {web.port} is not a mail server; check the host and port" in err,
              f"an HTTP server: no hint: {err}")
    finally:
        web.close()


def start_silent_send(config_dir, body):
    """`envoi send` to a server that accepts the connection and never greets (what a TLS
    port does to a starttls client), with no time limit in the config: the command gives
    up after a minute, not RFC 5321's five. Started first, checked last."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    config = loopback_config(config_dir / "silent.toml", silent.getsockname()[1])
    started = time.monotonic()
    text = config_dir / "silent.txt"
    text.write_bytes(body)
    proc = subprocess.Popen([str(ENVOI), "send", "--config", str(config), "--to",
                             "a@example.test", "--subject", "x", "--text", str(text)],
                            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)
    return silent, proc, started


def check_silent_send(silent, proc, started):
    port = silent.getsockname()[1]
    try:
        _, err = proc.communicate(timeout=120)
        err = err.decode()
        code = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        check(False, "envoi send still waiting for a greeting after 2 minutes")
        return
    finally:
        silent.close()
    elapsed = time.monotonic() - started
    check(code == 3 and "greeting" in err, f"silent server: exit {code}: {err}")
    check(55 <= elapsed <= 90, f"silent server: gave up after {elapsed:.0f} s, not about 60")
    check(f"server: 127.0.0.1 port {port}, none" in err, f"silent server: no server line: {err}")


def configured_greeting_limit(config_dir, body):
    """[X.smtp.timeouts] greeting, when set, is the limit envoi send keeps."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        config = loopback_config(config_dir / "silent-2s.toml", silent.getsockname()[1],
                                 "[sites.peer.smtp.timeouts]\ngreeting = 2\n")
        started = time.monotonic()
        r = envoi("send", "--config", str(config), "--to", "a@example.test", "--subject", "x",
                  "--text", "-", stdin=body)
        elapsed = time.monotonic() - started
    check(r.returncode == 3 and b"greeting" in r.stderr and elapsed < 20,
          f"greeting = 2: exit {r.returncode} after {elapsed:.0f} s: {r.stderr.decode()}")


def settings_that_do_not_fit(config_dir, settings, body):
    """Exit 2, a configuration error, with what to change, when the security chosen does not
    fit the port: STARTTLS asked of the test Postfix's plain port, which offers none, and a
    login with security "none" on its submission port, which lists logins only after
    STARTTLS. Nothing is delivered."""
    passwords = {"ENVOI_SUD_PASSWORD": settings["ENVOI_TEST_PASSWORD"]}
    cases = (("plain port with starttls", settings["ENVOI_TEST_PLAIN_PORT"], "starttls",
              "does not offer STARTTLS"),
             ("submission port with none", settings["ENVOI_TEST_SUBMISSION_PORT"], "none",
              "set the account's security to starttls"))
    for what, port, security, says in cases:
        config = config_dir / f"fit-{security}.toml"
        config.write_text(f"""[sites.sud]
from = "{settings['ENVOI_TEST_USER']}"
[sites.sud.smtp]
host = "{settings['ENVOI_TEST_HOST']}"
port = {port}
security = "{security}"
password_env = "ENVOI_SUD_PASSWORD"
ca_file = "{settings['ENVOI_TEST_CA']}"
""")
        r = envoi("send", "--config", str(config), "--to", "helene@example.test", "--subject",
                  "x", "--text", "-", stdin=body, env_extra=passwords)
        err = r.stderr.decode()
        check(r.returncode == 2, f"{what}: exit {r.returncode}: {err}")
        check(says in err, f"{what}: does not say {says!r}: {err}")
        check(settings["ENVOI_TEST_PASSWORD"] not in err, f"{what}: the password shown: {err}")


def main():
    settings = server_settings()
    config = write_config(settings)
    silent = start_silent_send(config.parent, b"Bonjour\n")
    passwords = {"ENVOI_SUD_PASSWORD": settings["ENVOI_TEST_PASSWORD"],
                 "ENVOI_NORD_PASSWORD": settings["ENVOI_TEST_PASSWORD2"]}
    base = ["send", "--config", str(config), "--site", "sud", "--subject",
            "Compte rendu de la visite d'Églantine", "--text", "-"]
    body = "Bonjour,\n.\nVoici le compte rendu.\n".encode()

    # Dry run: the exact message on stdout, the envelope on stderr, no connection (the
    # password variables are unset, so a connection attempt would fail at AUTH).
    r = envoi(*base, "--to", "Dupont, Hélène <helene@example.test>", "--bcc", "archive@example.test",
              "--attach", str(PDF), "--dry-run", stdin=body)
    check(r.returncode == 0, f"dry run exit {r.returncode}: {r.stderr.decode()}")
    check(b"\r\n" in r.stdout and b"\n" not in r.stdout.replace(b"\r\n", b""),
          "dry run output is not CRLF only")
    msg = BytesParser(policy=email.policy.default).parsebytes(r.stdout)
    check(msg["subject"] == "Compte rendu de la visite d'Églantine", f"subject {msg['subject']!r}")
    check(msg["to"].addresses[0].display_name == "Dupont, Hélène", f"to {msg['to']!r}")
    check(msg["bcc"] is None, "a Bcc header in the dry run")
    body_text = msg.get_body(preferencelist=("plain",)).get_content()
    check(body_text.replace("\r\n", "\n") == body.decode(), f"body {body_text!r}")
    names = [p.get_filename() for p in msg.iter_attachments()]
    check(names == [PDF.name], f"attachments {names}")
    envelope = r.stderr.decode().splitlines()
    check(envelope[:3] == ["account: site account of Clinique vétérinaire du Sud: sent in the "
                           "site's name, as no user is named",
                           "warning: the password cannot be read: environment variable "
                           "ENVOI_SUD_PASSWORD is not set; set it to the secret before starting "
                           f"the program (password_env in {config})",
                           "MAIL FROM:<clinic@example.test>"], f"envelope {envelope}")
    for rcpt in ("helene@example.test", "archive@example.test", "verification-sud@example.test"):
        check(f"RCPT TO:<{rcpt}>" in envelope, f"{rcpt} not in the envelope {envelope}")

    # The verification copy goes once, also when it is named with --bcc as well.
    r = envoi(*base, "--to", "helene@example.test", "--bcc", "verification-sud@Example.Test",
              "--dry-run", stdin=body)
    rcpts = [l for l in r.stderr.decode().splitlines() if l.startswith("RCPT TO:")]
    check(rcpts == ["RCPT TO:<helene@example.test>", "RCPT TO:<verification-sud@Example.Test>"],
          f"verification copy also in --bcc: {rcpts}")

    # Real sends and their exit statuses.
    r = envoi(*base, "--to", "helene@example.test", stdin=body, env_extra=passwords)
    check(r.returncode == 0, f"accepted: exit {r.returncode}: {r.stderr.decode()}")
    r = envoi(*base, "--to", "unknown.client@example.test", "--to", "helene@example.test",
              stdin=body, env_extra=passwords)
    check(r.returncode == 1 and b"550 5.1.1" in r.stderr,
          f"refused: exit {r.returncode}: {r.stderr.decode()}")
    r = envoi(*base, "--to", "not an address", stdin=body, env_extra=passwords)
    check(r.returncode == 2 and b"--to" in r.stderr, f"bad address: exit {r.returncode}")
    r = envoi("send", "--config", "/nonexistent/envoi.toml", "--to", "a@example.test",
              "--subject", "x", "--text", "-", stdin=body)
    check(r.returncode == 2, f"bad config: exit {r.returncode}")
    r = envoi("send", "--to", "a@example.test", stdin=body)
    check(r.returncode == 2, f"missing --subject: exit {r.returncode}")
    r = envoi("send", "--config", str(config), "--site", "sud", "--to", "a@example.test",
              "--subject", " ", "--text", "-", "--dry-run", stdin=body)
    check(r.returncode == 2 and b"--subject: is empty" in r.stderr,
          f"empty --subject: exit {r.returncode}: {r.stderr.decode()}")

    # Bad input a person types: each error names the option and says what is wrong.
    def usage_error(args, expected, what):
        r = envoi(*base, *args, stdin=body, env_extra=passwords)
        err = r.stderr.decode()
        check(r.returncode == 2 and expected in err, f"{what}: exit {r.returncode}: {err}")

    usage_error(["--to", "a@example.test, b@example.test"],
                "one address per --to; repeat --to for each", "two addresses in one --to")
    usage_error(["--to", "a@example.test b@example.test"],
                "one address per --to; repeat --to for each", "two addresses, a space between")
    r = envoi(*base, "--to", "helene@example.test", "--atach", "ordonnance.pdf", stdin=body)
    check(r.returncode == 2 and b"envoi send: unknown option --atach, did you mean --attach? "
          b"(see envoi send --help)"
          in r.stderr, f"misspelt option: exit {r.returncode}: {r.stderr.decode()}")
    # An unknown option is named even when a required one is missing with it.
    r = envoi("send", "--config", str(config), "--to", "helene@example.test", "--subject", "x",
              "--body", "lettre.txt")
    check(r.returncode == 2 and b"unknown option --body, did you mean --text?" in r.stderr,
          f"--body for --text: exit {r.returncode}: {r.stderr.decode()}")
    r = envoi("send", "--config", str(config), "--site", "sud", "--to", "helene@example.test",
              "--subject", "x", "--text", "-", "--from", "accueil@example.test")
    check(r.returncode == 2 and b"unknown option --from; the sender is the site's" in r.stderr,
          f"--from: exit {r.returncode}: {r.stderr.decode()}")
    # The text itself where its file belongs.
    r = envoi("send", "--config", str(config), "--site", "sud", "--to", "helene@example.test",
              "--subject", "x", "--text", "Bonjour, voici le rappel")
    check(r.returncode == 2 and b"--text takes the name of a file holding the text, or -"
          in r.stderr, f"text given to --text: exit {r.returncode}: {r.stderr.decode()}")
    r = envoi("sned", "--to", "helene@example.test")
    check(r.returncode == 2 and b'unknown command "sned"; the commands are send and preset'
          in r.stderr, f"misspelt command: exit {r.returncode}: {r.stderr.decode()}")
    empty_pdf = config.with_name("ordonnance.pdf")
    empty_pdf.write_bytes(b"")
    usage_error(["--to", "helene@example.test", "--attach", str(empty_pdf)],
                f"--attach: {empty_pdf}: is empty (0 bytes); was the document saved?",
                "an empty attachment")
    r = envoi("send", "--config", str(config), "--site", "sud", "--to", "helene@example.test",
              "--subject", "Rappel\nBcc: x@example.test", "--text", "-", "--dry-run", stdin=body)
    check(r.returncode == 2 and b"--subject: " in r.stderr,
          f"line break in --subject: exit {r.returncode}: {r.stderr.decode()}")
    # A password file others can read: said, with the command that fixes it.
    secret_file = config.with_name("sud.password")
    secret_file.write_text("Mot-de-passe\n")
    secret_file.chmod(0o644)
    shared = loopback_config(config.with_name("file.toml"), 25,
                             'login = "sud@example.test"\npassword_file = "sud.password"\n')
    r = envoi("send", "--config", str(shared), "--to", "helene@example.test", "--subject",
              "Rappel", "--text", "-", "--dry-run", stdin=body)
    check(f"the password file {secret_file} can be read by other users of this machine; "
          f"make it yours alone (chmod 600 {secret_file})" in r.stderr.decode(),
          f"readable password file: {r.stderr.decode()}")
    secret_file.chmod(0o600)
    r = envoi("send", "--config", str(shared), "--to", "helene@example.test", "--subject",
              "Rappel", "--text", "-", "--dry-run", stdin=body)
    check(r.returncode == 0 and b"can be read by other users" not in r.stderr,
          f"password file of its owner alone: {r.stderr.decode()}")
    # An empty text alone is a text that never came; beside an attachment it may be meant.
    r = envoi("send", "--config", str(config), "--site", "sud", "--to", "helene@example.test",
              "--subject", "Rappel", "--text", "-", "--dry-run", stdin=b"\n")
    check(r.returncode == 2 and b"--text: standard input is empty, and nothing else would be "
          b"sent" in r.stderr and not r.stdout, f"empty text: exit {r.returncode}: {r.stderr.decode()}")
    r = envoi("send", "--config", str(config), "--site", "sud", "--to", "helene@example.test",
              "--subject", "Rappel", "--text", "-", "--attach", str(PDF), "--dry-run", stdin=b"\n")
    check(r.returncode == 0 and b"warning: --text: the text is empty" in r.stderr,
          f"empty text with an attachment: exit {r.returncode}: {r.stderr.decode()}")
    usage_error(["--to", "helene@orange"],
                "--to: the domain of helene@orange has no dot: a forgotten ending such as .fr?",
                "a domain without its ending")
    usage_error(["--to", "helene@example.test", "--cc", "Marie <marie@sfr>"],
                "--cc: the domain of marie@sfr has no dot", "a --cc domain without its ending")
    latin1 = config.with_name("lettre-latin1.txt")
    latin1.write_bytes("Médor est attendu à 14 h.\n".encode("cp1252"))
    r = envoi(*base[:-1], str(latin1), "--to", "a@example.test", "--dry-run")
    check(r.returncode == 2 and f"--text: {latin1}: is not valid UTF-8 (saved as Windows-1252 "
          "or Latin-1?); save it as UTF-8" in r.stderr.decode(),
          f"a Windows-1252 text file: exit {r.returncode}: {r.stderr.decode()}")
    # A byte-order mark (Notepad's UTF-8) is not part of the text.
    bom = config.with_name("lettre-bom.txt")
    bom.write_bytes(b"\xef\xbb\xbf" + "Médor est attendu.\n".encode())
    r = envoi(*base[:-1], str(bom), "--to", "a@example.test", "--dry-run")
    text = BytesParser(policy=email.policy.default).parsebytes(r.stdout).get_content()
    check(r.returncode == 0 and text.startswith("Médor est attendu."),
          f"BOM: exit {r.returncode}: {text!r}")
    usage_error(["--to", "a@example.test", "--attach", str(config.parent)],
                "--attach: \"" + str(config.parent) + "\" is a folder, not a file",
                "a folder attached")
    usage_error(["--to", "a@example.test", "--attach", "/nonexistent/facture.pdf"],
                "--attach: \"/nonexistent/facture.pdf\" does not exist", "a missing attachment")
    # What is not a regular file is refused, and nothing is read from it: a FIFO without a
    # writer (opening it would wait for ever), a shell's <(...) pipe, /dev/null.
    fifo = config.with_name("export.pdf")
    os.mkfifo(fifo)
    usage_error(["--to", "a@example.test", "--attach", str(fifo)],
                f'--attach: "{fifo}" is a pipe, not a file: save it to a file first, then '
                'attach that file',
                "a FIFO attached")
    fifo.unlink()
    usage_error(["--to", "a@example.test", "--attach", "/dev/null"],
                '--attach: "/dev/null" is a device, not a file', "/dev/null attached")
    read_end, write_end = os.pipe()
    os.write(write_end, PDF.read_bytes()[:1000])
    os.close(write_end)
    r = subprocess.run([str(ENVOI), *base, "--to", "a@example.test", "--attach",
                        f"/dev/fd/{read_end}", "--dry-run"], input=body, capture_output=True,
                       timeout=60, pass_fds=(read_end,))
    check(r.returncode == 2 and f'"/dev/fd/{read_end}" is a pipe, not a file'
          in r.stderr.decode(), f"a pipe attached: exit {r.returncode}: {r.stderr.decode()}")
    check(os.read(read_end, 2000) == PDF.read_bytes()[:1000], "the attached pipe was read")
    os.close(read_end)
    # A UTF-8 CSV says so, and reads back with its accents.
    csv = config.with_name("export patients.csv")
    csv.write_text("nom;animal\nDupont;Médor\n", encoding="utf-8")
    r = envoi(*base, "--to", "a@example.test", "--attach", str(csv), "--dry-run", stdin=body)
    parts = list(BytesParser(policy=email.policy.default).parsebytes(r.stdout).iter_attachments())
    texts = [p.get_content() for p in parts]
    check(r.returncode == 0 and texts == ["nom;animal\nDupont;Médor\n"],
          f"a UTF-8 CSV: exit {r.returncode}: {texts!r} {r.stderr.decode()}")
    usage_error(["--to", "a@example.test", "--html", "/nonexistent/lettre.html"],
                "--html: \"/nonexistent/lettre.html\" does not exist", "a missing HTML file")
    r = envoi("send", "--config", "/nonexistent/envoi.toml", "--to", "a@example.test",
              "--subject", "x", "--text", "-", stdin=body)
    check(b"the configuration file does not exist" in r.stderr,
          f"missing config: {r.stderr.decode()}")
    empty = config.with_name("empty.toml")
    empty.write_text("# nothing yet\n")
    r = envoi("send", "--config", str(empty), "--to", "a@example.test", "--subject", "x",
              "--text", "-", stdin=body)
    check(r.returncode == 2 and b"defines no site; add a [sites.ID] table" in r.stderr,
          f"empty config: exit {r.returncode}: {r.stderr.decode()}")
    r = envoi(*base, "--to", "a@example.test", "--log", "DEBUG", "--dry-run", stdin=body)
    check(r.returncode == 0, f"--log DEBUG: exit {r.returncode}: {r.stderr.decode()}")
    with open("/dev/full", "wb") as full:
        r = subprocess.run([str(ENVOI), *base, "--to", "a@example.test", "--dry-run"],
                           input=body, stdout=full, stderr=subprocess.PIPE, timeout=60)
    check(r.returncode == 2 and b"could not be written to stdout (No space left on device)"
          in r.stderr,
          f"dry run into a full disk: exit {r.returncode}: {r.stderr.decode()}")

    # --transcript: the dialogue on stderr, both directions, AUTH data redacted.
    password = settings["ENVOI_TEST_PASSWORD"]
    secrets = [password, base64.b64encode(password.encode()).decode(),
               base64.b64encode(b"\0" + settings["ENVOI_TEST_USER"].encode() + b"\0" +
                                password.encode()).decode()]
    r = envoi(*base, "--to", "helene@example.test", "--transcript", stdin=body,
              env_extra=passwords)
    err = r.stderr.decode()
    check(r.returncode == 0, f"transcript send: exit {r.returncode}: {err}")
    lines = err.splitlines()
    for expected in ("C: STARTTLS", "C: AUTH PLAIN <redacted>", "C: QUIT"):
        check(expected in lines, f"{expected!r} not in the transcript:\n{err}")
    for prefix in ("S: 220 ", "S: 235 ", "C: EHLO ", "C: MAIL FROM:<clinic@example.test>",
                   "C: <message: ", "* TLS established"):
        check(any(line.startswith(prefix) for line in lines),
              f"no line starting {prefix!r} in the transcript:\n{err}")
    check("Voici le compte rendu" not in err, f"the message body is in the transcript:\n{err}")
    for secret in secrets:
        check(secret not in err, f"a secret is in the transcript:\n{err}")
    # A refused password, with the transcript on: still no secret anywhere.
    wrong = "Pas-le-bon-mot-de-passe"
    r = envoi(*base, "--to", "helene@example.test", "--transcript", stdin=body,
              env_extra=dict(passwords, ENVOI_SUD_PASSWORD=wrong))
    err = r.stderr.decode()
    check(r.returncode == 1 and "S: 535 " in err, f"wrong password: exit {r.returncode}: {err}")
    check("envoi: check the login and the password" in err and "app password" in err,
          f"wrong password: nothing says what to check: {err}")
    for secret in (wrong, base64.b64encode(wrong.encode()).decode()):
        check(secret not in err + r.stdout.decode(), f"the wrong password is in the output:\n{err}")

    # An unreachable server: a loopback port nobody listens on.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    text = config.read_text().replace(f"port = {settings['ENVOI_TEST_SUBMISSION_PORT']}",
                                      f"port = {closed_port}")
    unreachable = config.with_name("unreachable.toml")
    unreachable.write_text(text)
    r = envoi("send", "--config", str(unreachable), "--site", "sud", "--to",
              "helene@example.test", "--subject", "x", "--text", "-", stdin=body,
              env_extra=passwords)
    check(r.returncode == 3 and b"connect" in r.stderr,
          f"unreachable: exit {r.returncode}: {r.stderr.decode()}")
    # The password is read before connecting: unset, it is the error, not the closed port.
    r = envoi("send", "--config", str(unreachable), "--site", "sud", "--to",
              "helene@example.test", "--subject", "x", "--text", "-", stdin=body)
    check(r.returncode == 2 and b"not sent: the password cannot be read: environment variable "
          b"ENVOI_SUD_PASSWORD is not set" in r.stderr and b"connect" not in r.stderr,
          f"unset password: exit {r.returncode}: {r.stderr.decode()}")

    refusals_for_now(config.parent, body)
    outcomes_named(config.parent, body)
    configured_greeting_limit(config.parent, body)
    settings_that_do_not_fit(config.parent, settings, body)
    check_silent_send(*silent)

    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
