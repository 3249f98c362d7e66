"""What the send_reminders integration tests share: the test server's settings, a config
for it made from the demo's template, and a run of the example program.

The tests run under ctest with ENVOI_TEST_SERVER_DIR (the running test server),
ENVOI_BUILD_DIR and ENVOI_SOURCE_DIR set.
"""

import atexit
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

SOURCE = Path(os.environ["ENVOI_SOURCE_DIR"])
BUILD = Path(os.environ["ENVOI_BUILD_DIR"])
SERVER = Path(os.environ["ENVOI_TEST_SERVER_DIR"])
DATA = SOURCE / "examples" / "data"
CSV_FILE = DATA / "rendez-vous-demain.csv"


def server_settings():
    """The ENVOI_TEST_* values of the server's env.sh."""
    settings = {}
    for line in (SERVER / "env.sh").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings[key.strip()] = shlex.split(value)[0] if value else ""
    return settings


def delivered_files(maildir):
    """The files in the test server's maildir (its `new` folder)."""
    new = Path(maildir) / "new"
    return set(new.iterdir()) if new.exists() else set()


def wait_for_deliveries(maildir, before, expected, limit=20):
    """Postfix delivers after its 250: waits until `expected` files have come since
    `before` (a delivered_files() set), at most `limit` seconds; returns the new ones."""
    deadline = time.time() + limit
    while len(delivered_files(maildir) - before) < expected and time.time() < deadline:
        time.sleep(0.05)
    return sorted(delivered_files(maildir) - before)


def write_config(settings):
    """A config for the submission port (STARTTLS), in a folder removed at exit."""
    work = Path(tempfile.mkdtemp(prefix="envoi-reminders-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    config = (DATA / "envoi.toml.in").read_text()
    for name, value in (("@SMTP_HOST@", settings["ENVOI_TEST_HOST"]),
                        ("@SMTP_PORT@", settings["ENVOI_TEST_SUBMISSION_PORT"]),
                        ("@CA_FILE@", settings["ENVOI_TEST_CA"])):
        config = config.replace(name, value)
    path = work / "envoi.toml"
    path.write_text(config)
    return path


def run_send_reminders(config, sud_password, nord_password, *extra):
    """Runs the example on the sample appointments; returns the CompletedProcess."""
    env = dict(os.environ, ENVOI_SUD_PASSWORD=sud_password, ENVOI_NORD_PASSWORD=nord_password)
    return subprocess.run(
        [str(BUILD / "examples" / "send_reminders"), "--config", str(config),
         "--csv", str(CSV_FILE), *extra],
        env=env, capture_output=True, text=True, timeout=240)
