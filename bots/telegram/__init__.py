"""Telegram channel: Bot API webhook or long polling in, sendMessage with inline keyboards out."""
