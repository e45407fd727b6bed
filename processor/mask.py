"""Masking as Soveren does it: the shape of a value without the value (letters -> '*', digits -> '1')."""

from __future__ import annotations

from typing import Final

MAX_SAMPLE: Final = 48

# ASCII letters -> '*', digits -> '1', whitespace -> ' ', other printable ASCII kept, controls -> '*';
# a byte table (bytes.translate is a plain table lookup; str.translate looks each character up in a dict)
_ASCII: Final = bytes(
    ord("1" if chr(c).isdigit() else "*" if chr(c).isalpha() else " " if chr(c).isspace() else chr(c) if chr(c).isprintable() else "*")
    for c in range(128)
) + b"*" * 128


def mask(value: str, limit: int = MAX_SAMPLE) -> str:
    """``john.doe@example.com`` -> ``****.***@*******.***``; cut to ``limit`` characters.

    Every letter of any script becomes ``*`` and every digit ``1``; punctuation and spaces stay,
    so a reader sees the format (an email, a formatted card number) but never the content.
    """
    cut = value[:limit]
    if cut.isascii():  # the common case, at C speed
        out_ascii = cut.encode("ascii").translate(_ASCII).decode("ascii")
        return out_ascii + "…" if len(value) > limit else out_ascii
    out = []
    for ch in cut:
        if ch.isdigit():
            out.append("1")
        elif ch.isalpha():
            out.append("*")
        elif ch.isspace():
            out.append(" ")
        elif ch.isprintable() and ord(ch) < 128:
            out.append(ch)
        else:
            out.append("*")
    if len(value) > limit:
        out.append("…")
    return "".join(out)
