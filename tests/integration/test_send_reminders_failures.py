"""send_reminders when one site's account is wrong: the site is tried once, its rows are
reported as not sent, the other site's rows still go out, and no password is printed.

Run by ctest with ENVOI_TEST_SERVER_DIR, ENVOI_BUILD_DIR and ENVOI_SOURCE_DIR set.
"""

import re
import sys
from pathlib import Path

from reminders_run import (delivered_files, run_send_reminders, server_settings,
                           wait_for_deliveries, write_config)

WRONG = "Wr0ng-Sud-Passw0rd"


def main():
    env = server_settings()
    config = write_config(env)
    log = Path(env["ENVOI_TEST_POSTFIX_LOG"])
    log_before = log.read_bytes()
    maildir = env["ENVOI_TEST_MAILDIR"]
    before = delivered_files(maildir)

    result = run_send_reminders(config, WRONG, env["ENVOI_TEST_PASSWORD2"])
    out = result.stdout
    print(out)
    failures = []
    lines = out.splitlines()
    auth_lines = [l for l in lines if "auth failed" in l and "refused the login or password" in l]
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
    # The nord rows' mail, each with its verification copy, lands before the test ends,
    # so that no later test finds it among its own.
    files = wait_for_deliveries(maildir, before, 2 * len(nord_ok))
    if len(files) != 2 * len(nord_ok):
        failures.append(f"{len(files)} files delivered for {len(nord_ok)} nord rows, "
                        f"expected {2 * len(nord_ok)}")
    new_log = log.read_bytes()[len(log_before):]
    attempts = len(re.findall(rb"authentication failed", new_log))
    if attempts != 1:
        failures.append(f"{attempts} failed logins at the server, expected 1")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
