"""send_reminders when one site's account is wrong: the site is tried once, its rows are
reported as not sent, the other site's rows still go out, and no password is printed.

Run by ctest with ENVOI_TEST_SERVER_DIR, ENVOI_BUILD_DIR and ENVOI_SOURCE_DIR set.
"""

import atexit
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = Path(os.environ["ENVOI_SOURCE_DIR"])
BUILD = Path(os.environ["ENVOI_BUILD_DIR"])
SERVER = Path(os.environ["ENVOI_TEST_SERVER_DIR"])
DATA = SOURCE / "examples" / "data"
WRONG = "Wr0ng-Sud-Passw0rd"


def main():
    env = {}
    for line in (SERVER / "env.sh").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key.strip()] = shlex.split(value)[0] if value else ""
    work = Path(tempfile.mkdtemp(prefix="envoi-failures-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    config = (DATA / "envoi.toml.in").read_text()
    for name, value in (("@SMTP_HOST@", env["ENVOI_TEST_HOST"]),
                        ("@SMTP_PORT@", env["ENVOI_TEST_SUBMISSION_PORT"]),
                        ("@CA_FILE@", env["ENVOI_TEST_CA"])):
        config = config.replace(name, value)
    (work / "envoi.toml").write_text(config)
    log = Path(env["ENVOI_TEST_POSTFIX_LOG"])
    log_before = log.read_bytes()

    result = subprocess.run(
        [str(BUILD / "examples" / "send_reminders"), "--config", str(work / "envoi.toml"),
         "--csv", str(DATA / "rendez-vous-demain.csv")],
        env=dict(os.environ, ENVOI_SUD_PASSWORD=WRONG,
                 ENVOI_NORD_PASSWORD=env["ENVOI_TEST_PASSWORD2"]),
        capture_output=True, text=True, timeout=120)
    out = result.stdout
    print(out)
    failures = []
    lines = out.splitlines()
    auth_lines = [l for l in lines if "auth: the server refused the login or password" in l]
    site_lines = [l for l in lines if "site sud could not send" in l]
    nord_ok = [l for l in lines if ": accepted " in l]
    if result.returncode != 1:
        failures.append(f"exit status {result.returncode}, expected 1")
    if len(auth_lines) != 1 or "535 5.7.8" not in auth_lines[0]:
        failures.append(f"expected one auth failure line with 535 5.7.8, got {auth_lines}")
    if not site_lines or not nord_ok:
        failures.append("sud rows not reported as not sent, or no nord row accepted")
    if WRONG in out or WRONG in result.stderr:
        failures.append("the password was printed")
    new_log = log.read_bytes()[len(log_before):]
    attempts = len(re.findall(rb"authentication failed", new_log))
    if attempts != 1:
        failures.append(f"{attempts} failed logins at the server, expected 1")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
