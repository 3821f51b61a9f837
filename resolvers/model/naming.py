"""Amplify's naming rules for generated fields and types."""

from __future__ import annotations

import re

_ES_ENDINGS = ("s", "x", "z", "ch", "sh")


def pluralize(word: str) -> str:
    """English plural as Amplify's transformer spells list fields (``listCategories``)."""
    lower = word.lower()
    if re.search(r"[^aeiou]y$", lower):
        return word[:-1] + "ies"
    if lower.endswith(_ES_ENDINGS):
        return word + "es"
    return word + "s"


def lower_first(word: str) -> str:
    return word[:1].lower() + word[1:]


def upper_first(word: str) -> str:
    return word[:1].upper() + word[1:]
