"""Tests of the channels (bots/): WeChat, Telegram, the web chat, e-mail."""
