"""Telegram channel on aiogram 3, and the reps' group topics."""
