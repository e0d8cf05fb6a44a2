"""A client message in two aligned forms: as written (width-folded) and folded for matching (simplified, lower case)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from core.dialogue.hanzi import to_simplified

# Stands in for a span already taken by another entity: no pattern matches it, and it ends every name or clause.
MASK = "\ue000"


@dataclass(frozen=True, slots=True)
class Folded:
    """`shown` is the message after NFKC; `folded` has the same length, so a span found in one slices the other."""

    shown: str
    folded: str

    def masked(self, spans: Iterable[tuple[int, int]]) -> str:
        """The folded text with the given spans blotted out."""
        chars = list(self.folded)
        for start, end in spans:
            chars[start:end] = MASK * (end - start)
        return "".join(chars)

    def words(self, start: int, end: int) -> str:
        """The client's own words for a span, trimmed."""
        return self.shown[start:end].strip()


# One turn reads the same message for several entities and answers; a Folded is immutable, so it is shared.
@lru_cache(maxsize=256)
def fold(text: str) -> Folded:
    """NFKC (full-width digits and punctuation to ASCII), then traditional to simplified and lower case for matching."""
    shown = unicodedata.normalize("NFKC", text) if not text.isascii() else text
    folded = to_simplified(shown).lower()
    # Both conversions keep the length for nearly every text; when one does not, the folded form is shown, so
    # that spans stay aligned.
    if len(folded) != len(shown):
        shown = folded
    return Folded(shown, folded)


def bare_message(text: str) -> str:
    """A message without the spaces and punctuation around it, to compare with words said as a whole message."""
    return text.strip(" .!?。！？~～")
