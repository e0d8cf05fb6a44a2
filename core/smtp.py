"""Sending one e-mail through an SMTP server (plain, STARTTLS or implicit TLS), shared by every mail kefu sends."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from core.settings import SmtpSettings


def send_email(smtp: SmtpSettings, message: EmailMessage) -> None:
    """One message through the configured SMTP server (blocking: call it in a thread)."""
    assert smtp.host is not None
    # Implicit TLS (port 465, as 腾讯企业邮 and most hosted mail offer) or a plain connection upgraded on request.
    client_class = smtplib.SMTP_SSL if smtp.ssl else smtplib.SMTP
    with client_class(smtp.host, smtp.port, timeout=smtp.timeout) as client:
        if smtp.starttls and not smtp.ssl:
            client.starttls()
        if smtp.username and smtp.password:
            client.login(smtp.username, smtp.password.get_secret_value())
        client.send_message(message)
