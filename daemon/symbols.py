"""Symbols: what a KRX code looks like, and how many KIS lets one session register.

A symbol is a 6-digit KRX short code (``005930`` Samsung Electronics) or an ETN code, ``Q``
and 6 digits or capital letters (``Q530036``). A KIS app key holds at most
:data:`MAX_REGISTRATIONS` realtime registrations; the 42nd is refused (OPSP0008).

Every boundary that takes symbols — settings, SetSubscriptions, Tail, the universe file,
the realtime session — goes through :func:`parse_symbols`: surrounding blanks removed,
duplicates dropped (the first stays), every code checked, the limit applied.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from observer.daemon.errors import InvalidRequest

#: Realtime registrations KIS allows per app key.
MAX_REGISTRATIONS: Final = 41
#: What the error messages call a valid code.
DESCRIPTION: Final = "6-digit KRX codes (005930) or ETN codes (Q and 6 characters, Q530036)"

_SYMBOL: Final = re.compile(r"(?:[0-9]{6}|Q[0-9A-Z]{6})", re.ASCII)


class SymbolError(InvalidRequest):
    """A list of symbols that cannot be used; the message says which and why."""


def is_symbol(text: object) -> bool:
    return isinstance(text, str) and _SYMBOL.fullmatch(text) is not None


def parse_symbols(
    items: Iterable[object],
    *,
    limit: int | None = MAX_REGISTRATIONS,
    allow_empty: bool = False,
    tr_ids: tuple[str, ...] = (),
) -> list[str]:
    """The distinct symbols of ``items`` in order; SymbolError names what is wrong.

    ``limit`` is the most registrations allowed (None: no limit, as for the swing
    universe); each symbol takes one per realtime TR of ``tr_ids`` (one when empty).
    """
    wanted = list(dict.fromkeys(x.strip() if isinstance(x, str) else x for x in items))
    bad = [x for x in wanted if not is_symbol(x)]
    if bad:
        shown = ", ".join(repr(b) for b in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise SymbolError(f"symbols must be {DESCRIPTION}; not valid: {shown}")
    if not wanted and not allow_empty:
        raise SymbolError("no symbols given; give at least one")
    per = max(1, len(tr_ids))
    if limit is not None and len(wanted) * per > limit:
        each = (
            f" on {per} realtime TRs each ({', '.join(tr_ids)}): {len(wanted) * per} registrations"
            if per > 1
            else ""
        )
        raise SymbolError(
            f"{len(wanted)} symbols given{each}; KIS allows at most {limit} realtime "
            f"registrations per app key (the {limit + 1}th is refused with MAX SUBSCRIBE "
            "OVER); remove some"
        )
    return [str(s) for s in wanted]
