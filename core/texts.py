"""Client- and rep-facing texts, loaded from config/texts.<lang>.yaml; zh-CN is the default."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError

DEFAULT_LANGUAGE = "zh"


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = str(value)
    return flat


class Texts:
    """Texts by dotted key and language, falling back to Chinese when a translation is missing."""

    def __init__(self, catalogs: Mapping[str, Mapping[str, str]], default: str = DEFAULT_LANGUAGE) -> None:
        if default not in catalogs:
            raise ConfigError(f"no texts for the default language {default!r}")
        self._catalogs = {lang: dict(c) for lang, c in catalogs.items()}
        self.default = default

    @classmethod
    def load(cls, config_dir: Path, default: str = DEFAULT_LANGUAGE) -> Texts:
        catalogs: dict[str, dict[str, str]] = {}
        for path in sorted(config_dir.glob("texts.*.yaml")):
            lang = path.name.split(".")[1]
            with path.open(encoding="utf-8") as fh:
                catalogs[lang] = _flatten(yaml.safe_load(fh) or {})
        return cls(catalogs, default)

    @property
    def languages(self) -> list[str]:
        return sorted(self._catalogs)

    def keys(self, lang: str | None = None) -> set[str]:
        return set(self._catalogs[lang or self.default])

    def has(self, key: str) -> bool:
        return key in self._catalogs[self.default]

    def get(self, key: str, lang: str | None = None, **params: Any) -> str:
        catalog = self._catalogs.get(lang or self.default, {})
        template = catalog.get(key) or self._catalogs[self.default].get(key)
        if template is None:
            raise ConfigError(f"text {key!r} is missing from config/texts.{self.default}.yaml")
        try:
            return template.format(**params)
        except (KeyError, IndexError) as exc:
            raise ConfigError(f"text {key!r} needs parameter {exc}") from None
