"""The Official Account's custom menu: read config/wechat_menu.yaml and push it with menu/create."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bots.wechat.convert import HUMAN_KEY, MENU_BUTTONS
from core.errors import ConfigError
from core.yaml_files import load_file

KNOWN_KEYS = frozenset(MENU_BUTTONS) | {HUMAN_KEY}


def load_menu(path: Path) -> dict[str, Any]:
    """The menu as WeChat's JSON, checked so a typo in a key is caught before it reaches clients."""
    data = load_file(path)
    if not isinstance(data, dict) or not isinstance(data.get("button"), list) or not data["button"]:
        raise ConfigError(f"{path}: a non-empty 'button' list is required")
    if len(data["button"]) > 3:
        raise ConfigError(f"{path}: WeChat allows at most 3 top-level buttons")
    for button in data["button"]:
        subs = button.get("sub_button") if isinstance(button, dict) else None
        for item in subs if isinstance(subs, list) else [button]:
            if not isinstance(item, dict) or not item.get("name"):
                raise ConfigError(f"{path}: every button needs a name")
            if item.get("type") == "click" and item.get("key") not in KNOWN_KEYS:
                raise ConfigError(f"{path}: unknown click key {item.get('key')!r}; known: {sorted(KNOWN_KEYS)}")
        if isinstance(subs, list) and len(subs) > 5:
            raise ConfigError(f"{path}: WeChat allows at most 5 sub-buttons")
    return data


def push_menu(client: Any, path: Path) -> dict[str, Any]:
    """Replace the account's menu with the one in `path` (synchronous: meant for the CLI)."""
    result: dict[str, Any] = client.menu.create(load_menu(path))
    return result
