"""Tests of the e-mail channel against a real IMAP server (Dovecot) and a real SMTP server (aiosmtpd)."""
