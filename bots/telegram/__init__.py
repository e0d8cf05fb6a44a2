"""Telegram channel: Bot API webhook or long polling in, sendMessage with inline keyboards out."""

from bots.telegram.deferred_models import install as _defer_aiogram_models

_defer_aiogram_models()
