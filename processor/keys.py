"""What a key path says about its value: words of the last key and of its parent, cached per path.

``customer.billingAddress.zip_code`` -> last words ``('zip', 'code')``, parent words
``('billing', 'address')``. Paths repeat across pairs (same API, same schema), so the analysis is
memoised; the memo is bounded.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Final

from processor.lexicon import concept_of

_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SPLIT: Final = re.compile(r"[^A-Za-z0-9]+")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    words: tuple[str, ...]  # the last key's words, lower case, plural 's' kept
    compact: str  # the last key's words joined: "zipcode", "cardnumber"
    parent: tuple[str, ...]  # the nearest named ancestor's words
    parent_compact: str
    ancestors: frozenset[str]  # every word of every key on the path above the last
    in_array: bool  # the value is an element of a list ("emails[]")
    concept: str | None = None  # what the last key names in another language (processor/lexicon.py)
    memo: dict[int, Any] = field(default_factory=dict, compare=False, hash=False)  # the detectors' per-path answers (vocabularies, plans)

    def has(self, *words: str) -> bool:
        return any(w in self.words for w in words)

    def parent_has(self, *words: str) -> bool:
        return any(w in self.parent for w in words)


_TRANSLIT: Final = str.maketrans({"ß": "ss", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "đ": "d", "ı": "i"})


def fold(key: str) -> str:
    """``Straße`` -> ``Strasse``, ``contraseña`` -> ``contrasena``: keys compared in ASCII."""
    if key.isascii():
        return key
    key = unicodedata.normalize("NFKD", key.translate(_TRANSLIT))
    return "".join(ch for ch in key if not unicodedata.combining(ch))


def split_words(key: str) -> tuple[str, ...]:
    spaced = _CAMEL.sub(" ", fold(key))
    return tuple(w.lower() for w in _SPLIT.split(spaced) if w)


def singular(word: str) -> str:
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("sses"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


MAX_KEY_INFOS: Final = 65536  # key paths remembered; emptied when full (an API has a few hundred)
_KEY_INFOS: Final[dict[str, KeyInfo]] = {}


def key_info(path: str) -> KeyInfo:
    """The path's analysis, memoised in a plain dict: looked up once or twice a leaf, and a compiled
    dict lookup costs a fraction of a call through functools.lru_cache."""
    k = _KEY_INFOS.get(path)
    if k is None:
        k = _analyse(path)
        if len(_KEY_INFOS) >= MAX_KEY_INFOS:
            _KEY_INFOS.clear()
        _KEY_INFOS[path] = k
    return k


def _analyse(path: str) -> KeyInfo:
    parts = [p for p in path.split(".") if p and p != "$"]
    in_array = bool(parts) and parts[-1].endswith("[]")
    names = [p.replace("[]", "") for p in parts]
    names = [n for n in names if n and not n.isdigit()]
    last = names[-1] if names else ""
    parent = names[-2] if len(names) > 1 else ""
    words = tuple(singular(w) for w in split_words(last))
    pwords = tuple(singular(w) for w in split_words(parent))
    ancestors = frozenset(singular(w) for n in names[:-1] for w in split_words(n))
    raw_words = split_words(last)  # the lexicon knows its words unsingularised ("observaciones")
    return KeyInfo(words, "".join(words), pwords, "".join(pwords), ancestors, in_array, concept=concept_of(raw_words))
