"""E-mail as a channel: IMAP in, SMTP out through the outbox."""
