"""Dovecot on a loopback port with a throwaway configuration, mailboxes and users; mail delivered by IMAP APPEND."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import aioimaplib
from aiosmtpd.smtp import AuthResult, LoginPassword

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
PASSWORD = "secret"

CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# A refused login is answered at once: the tests' own retries need no brute-force brake.
auth_failure_delay = 0
first_valid_uid = 0
default_internal_user = {user}
default_login_user = {user}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
"""


class Logins:
    """The SMTP server's authenticator: accepts the mailbox's own login only, and remembers who logged in."""

    def __init__(self) -> None:
        self.users: list[str] = []

    def __call__(self, server: object, session: object, envelope: object, mechanism: str, data: object) -> AuthResult:
        if isinstance(data, LoginPassword) and data.password == PASSWORD.encode():
            self.users.append(data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Users written into passwd-file before Dovecot starts: one is handed to each test at once. A user added while
# Dovecot runs is seen only once it notices the file's change, which took a test seconds of refused logins.
SPARE_USERS = 400


def user_name() -> str:
    return f"kefu-{uuid.uuid4().hex[:10]}@example.com"


def passwd_line(name: str) -> str:
    return f"{name}:{{PLAIN}}{PASSWORD}\n"


@dataclass
class Dovecot:
    """A running Dovecot; `user()` gives each test a mailbox of its own."""

    root: Path
    port: int
    process: subprocess.Popen[bytes]
    spare: list[str]

    def user(self) -> str:
        if self.spare:
            return self.spare.pop()
        name = user_name()
        # passwd-file is read again when it changes: a new line is a new user, no restart.
        with (self.root / "passwd").open("a") as passwd:
            passwd.write(passwd_line(name))
        return name

    async def new_user(self) -> str:
        """A new mailbox user, once Dovecot accepts its login."""
        name = self.user()
        client = await self.session(name)
        await client.logout()
        return name

    async def session(self, user: str) -> aioimaplib.IMAP4:
        """A logged-in IMAP session of `user`. Dovecot notices a new line of passwd-file by the file's change
        time, so a user added a moment ago may be refused once or twice: ask again for a few seconds."""
        deadline = time.monotonic() + 15
        while True:
            client = aioimaplib.IMAP4(host="127.0.0.1", port=self.port, timeout=10)
            await client.wait_hello_from_server()
            response = await client.login(user, PASSWORD)
            if response.result == "OK":
                return client
            with contextlib.suppress(Exception):
                await client.logout()
            assert time.monotonic() < deadline, f"dovecot refused {user}: {response}"
            await asyncio.sleep(0.2)

    async def deliver(self, user: str, mail: bytes | EmailMessage, folder: str = "INBOX") -> None:
        """Put a mail into the user's folder, as the mail server's delivery would."""
        raw = mail if isinstance(mail, bytes) else mail.as_bytes()
        client = await self.session(user)
        response = await client.append(raw, mailbox=folder)
        assert response.result == "OK", response
        await client.logout()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_dovecot(root: Path) -> Dovecot:
    """Dovecot in the foreground of a child process, on a free port; its own user when run as root."""
    if os.geteuid() == 0:
        account = pwd.getpwnam("dovecot")
        user, uid, gid = "dovecot", account.pw_uid, account.pw_gid
    else:
        account = pwd.getpwuid(os.geteuid())
        user, uid, gid = account.pw_name, account.pw_uid, account.pw_gid
    for sub in ("run", "state", "home"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    spare = [user_name() for _ in range(SPARE_USERS)]
    (root / "passwd").write_text("".join(passwd_line(name) for name in spare))
    os.chown(root / "home", uid, gid)
    root.chmod(0o755)
    port = free_port()
    config = root / "dovecot.conf"
    config.write_text(CONFIG.format(root=root, port=port, user=user, uid=uid, gid=gid))
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return Dovecot(root, port, process, spare)
        except OSError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("dovecot did not listen within 15 s")
