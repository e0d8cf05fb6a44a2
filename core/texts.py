"""Client- and rep-facing texts, loaded from config/texts.<lang>.yaml; zh-CN is the default."""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.yaml_files import load_file

DEFAULT_LANGUAGE = "zh"
# Texts under these sections are the console's own or go to reps only; admins override what clients read.
NOT_OVERRIDABLE = ("console.", "telegram.", "notify.")
MAX_OVERRIDE_CHARS = 2000


def placeholders(template: str) -> set[str]:
    """The {names} a text expects; ValueError for a malformed one such as an unclosed brace.

    Only bare names are placeholders: a format spec ({name:>3000000}), a conversion ({name!r}), an
    index or attribute ({name[0]}, {name.x}) or a positional {} or {0} would let an edited text grow
    without bound or reach into objects, so they are refused.
    """
    names: set[str] = set()
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if spec or conversion or not name.isidentifier():
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ValueError(f"only bare {{name}} placeholders are allowed, not {{{shown}}}")
        names.add(name)
    return names


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
        self._shipped = {lang: dict(c) for lang, c in catalogs.items()}
        self._catalogs = self._shipped
        self.default = default

    @classmethod
    def load(cls, config_dir: Path, default: str = DEFAULT_LANGUAGE) -> Texts:
        catalogs: dict[str, dict[str, str]] = {}
        for path in sorted(config_dir.glob("texts.*.yaml")):
            lang = path.name.split(".")[1]
            catalogs[lang] = _flatten(load_file(path) or {})
        return cls(catalogs, default)

    def shipped(self, key: str, lang: str) -> str | None:
        """The text as config/texts.<lang>.yaml has it, whatever admins overrode."""
        return self._shipped.get(lang, {}).get(key)

    def overridable(self) -> list[str]:
        """The keys admins may override: what clients read, in the default language's order."""
        return [k for k in self._shipped[self.default] if not k.startswith(NOT_OVERRIDABLE)]

    def check_overrides(self, data: Any) -> dict[str, dict[str, str]]:
        """Validate a document {"overrides": {lang: {key: text}}}; ConfigError tells what is wrong."""
        if not isinstance(data, Mapping) or set(data) - {"overrides"}:
            raise ConfigError('texts: expected {"overrides": {language: {key: text}}}')
        raw = data.get("overrides") or {}
        if not isinstance(raw, Mapping):
            raise ConfigError("texts: 'overrides' must map a language to {key: text}")
        allowed = set(self.overridable())
        checked: dict[str, dict[str, str]] = {}
        for lang, texts in raw.items():
            if lang not in self._shipped:
                raise ConfigError(f"texts: unknown language {lang!r} (known: {', '.join(self.languages)})")
            if not isinstance(texts, Mapping):
                raise ConfigError(f"texts.{lang}: expected {{key: text}}")
            for key, text in texts.items():
                if key not in allowed:
                    raise ConfigError(f"texts.{lang}: {key!r} is not a client text that can be overridden")
                if not isinstance(text, str) or not text.strip() or len(text) > MAX_OVERRIDE_CHARS:
                    raise ConfigError(f"{key} ({lang}): a text of 1 to {MAX_OVERRIDE_CHARS} characters is needed")
                shipped = self.shipped(key, lang) or self._shipped[self.default][key]
                try:
                    used = placeholders(text)
                except ValueError as exc:
                    raise ConfigError(f"{key} ({lang}): malformed placeholder: {exc}") from None
                expected = placeholders(shipped)
                if used != expected:
                    want = ", ".join("{" + n + "}" for n in sorted(expected)) or "none"
                    raise ConfigError(f"{key} ({lang}): the text must use the placeholders {want}, as shipped")
            checked[str(lang)] = {str(k): str(v) for k, v in texts.items()}
        return checked

    def use_overrides(self, overrides: Mapping[str, Mapping[str, str]]) -> None:
        """Serve these (checked) overrides over the shipped texts; one assignment, so no reader sees half of it."""
        self._catalogs = {lang: {**c, **overrides.get(lang, {})} for lang, c in self._shipped.items()}

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
