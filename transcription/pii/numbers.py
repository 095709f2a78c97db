"""Numbers as Whisper writes them from speech, in English, Dutch, German and French.

``number_runs`` reads a text as runs of *parts*: digit groups ("06", "12"), number words
("zes", "fünf", "zéro") and the compounds people say when they read a phone number in pairs,
with only joiners between them (spaces, commas, dots, ellipses, hyphens, slashes, brackets, the
"and" of a compound, and magnitudes such as "Millionen", which say no digit of their own). Each
part carries its span in the text and its digits, so that the phone finder can try where a
number begins and ends.

The compounds of the four languages:

- tens first (English, French): "thirty four", "trente-quatre", "vingt et un";
- units first (Dutch, German), in one word or three: "vierendertig", "vier en dertig",
  "einundzwanzig", "vierunddreißig";
- French's vigesimal tens: "soixante-dix-huit" (78), "quatre-vingt(s)" (80),
  "quatre-vingt-douze" (92), "dix-sept" (17), and the Belgian and Swiss "septante", "huitante",
  "octante", "nonante";
- repeated digits: "double five" (55), "triple zero", "dubbel", "doppel".

Words that are also articles are left out where they would swallow the next word: German "ein"
and "eine", French "une" (dictated digits say "eins" and "un"). Dutch "een" is kept: it is how a
Dutch speaker dictates a 1, and an article after a number makes the run longer, never valid, so
the phone finder falls back to the shorter number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Part:
    """``text[start:end]`` says ``digits`` ("+" for a leading plus)."""

    start: int
    end: int
    digits: str


def _words(table: dict[int, str]) -> dict[str, int]:
    return {word: value for value, words in table.items() for word in words.split()}


UNITS = _words(
    {
        0: "zero oh nought nul null zéro",
        1: "one een één eins un",
        2: "two twee zwei zwo deux",
        3: "three drie drei trois",
        4: "four vier quatre",
        5: "five vijf fünf fuenf cinq",
        6: "six zes sechs",
        7: "seven zeven sieben sept",
        8: "eight acht huit",
        9: "nine negen neun neuf",
    }
)
TEENS = _words(
    {
        10: "ten tien zehn dix",
        11: "eleven elf onze",
        12: "twelve twaalf zwölf zwoelf douze",
        13: "thirteen dertien dreizehn treize",
        14: "fourteen veertien vierzehn quatorze",
        15: "fifteen vijftien fünfzehn quinze",
        16: "sixteen zestien sechzehn seize",
        17: "seventeen zeventien siebzehn",
        18: "eighteen achttien achtzehn",
        19: "nineteen negentien neunzehn",
    }
)
TENS = _words(
    {
        20: "twenty twintig zwanzig vingt vingts",
        30: "thirty dertig dreißig dreissig trente",
        40: "forty veertig vierzig quarante",
        50: "fifty vijftig fünfzig cinquante",
        60: "sixty zestig sechzig soixante",
        70: "seventy zeventig siebzig septante",
        80: "eighty tachtig achtzig huitante octante",
        90: "ninety negentig neunzig nonante",
    }
)
REPEATS = {"double": 2, "triple": 3, "dubbel": 2, "doppel": 2}
# Magnitudes say no digit of their own; Whisper writes a number read in groups as "0151, 23
# Millionen 456, 789", so they join a run instead of ending it.
MAGNITUDES = frozenset(
    {
        *("hundred", "thousand", "million", "millions", "honderd", "duizend", "miljoen"),
        *("hundert", "tausend", "million", "millionen", "cent", "cents", "mille"),
    }
)
PLUS = frozenset({"+", "plus"})
# "and" inside a compound: "vier en dertig", "einundzwanzig" spelt apart, "vingt et un".
AND = frozenset({"en", "und", "et"})
# Units-first compounds in one word (Dutch, German): unit stem, "en"/"ën"/"und", tens.
_COMPOUND_UNITS = {
    **{stem: value for value, stems in {
        1: "een ein", 2: "twee zwei", 3: "drie drei", 4: "vier", 5: "vijf fünf fuenf",
        6: "zes sechs", 7: "zeven sieben", 8: "acht", 9: "negen neun",
    }.items() for stem in stems.split()},
}  # fmt: skip
_COMPOUND = re.compile(
    rf"^({'|'.join(sorted(_COMPOUND_UNITS, key=len, reverse=True))})(?:ën|en|und)"
    rf"({'|'.join(sorted(TENS, key=len, reverse=True))})$"
)
_VINGT = frozenset({"vingt", "vingts"})
_SEVEN_TO_NINE = frozenset({"sept", "huit", "neuf"})
_FRENCH_TEENS = frozenset({"dix", "onze", "douze", "treize", "quatorze", "quinze", "seize"})
_TOKEN = re.compile(r"\+|\d+|[^\W\d_]+")
# What may separate the parts of one spoken number: Whisper marks the pauses of a dictated
# number with commas, full stops and ellipses ("6. 1. 2.", "un... deux...").
_JOINER = re.compile(r"[\s,.…\-/()]{0,8}")


@dataclass(frozen=True, slots=True)
class _Token:
    start: int
    end: int
    word: str


def _value(word: str) -> int | None:
    """The value of a single number word, compounds included; None for anything else."""
    for table in (UNITS, TEENS, TENS):
        if word in table:
            return table[word]
    compound = _COMPOUND.match(word)
    if compound:
        return _COMPOUND_UNITS[compound.group(1)] + TENS[compound.group(2)]
    return None


def is_number_word(word: str) -> bool:
    """Whether ``word`` (lower case) is digits or a number word of the four languages."""
    return word.isdigit() or word in PLUS or word in REPEATS or word in MAGNITUDES or _value(word) is not None


def _read(tokens: list[_Token], i: int) -> tuple[str, int]:
    """The digits said by the number starting at token ``i``, and the index after it."""

    def word(k: int) -> str:
        return tokens[k].word if k < len(tokens) else ""

    first = word(i)
    if first.isdigit():
        return first, i + 1
    if first in PLUS:
        return "+", i + 1
    if first in MAGNITUDES:
        return "", i + 1
    if first in REPEATS:
        following = word(i + 1)
        if following in UNITS or (following.isdigit() and len(following) == 1):
            return str(UNITS.get(following, following)) * REPEATS[first], i + 2
        return "", i + 1
    value = _value(first)
    if value is None:
        return "", i + 1
    j = i + 1
    if first in UNITS:
        if value == 4 and word(j) in _VINGT:
            value, j = 80, j + 1  # "quatre-vingt(s)": counts on as a tens word
        elif word(j) in AND and word(j + 1) in TENS and value:
            return str(TENS[word(j + 1)] + value), j + 2  # "vier en dertig", "vier und dreißig"
        else:
            return str(value), j
    elif first == "dix" and word(j) in _SEVEN_TO_NINE:
        return str(10 + UNITS[word(j)]), j + 1  # "dix-sept"
    elif first not in TENS:
        return str(value), j  # a teen, or a one-word compound ("vierendertig")
    k = j + 1 if word(j) in AND else j
    # French 60 and 80 count on with the teens: "soixante-douze", "quatre-vingt-dix-neuf".
    if value in (60, 80) and word(k) in _FRENCH_TEENS:
        if word(k) == "dix" and word(k + 1) in _SEVEN_TO_NINE:
            return str(value + 10 + UNITS[word(k + 1)]), k + 2
        return str(value + TEENS[word(k)]), k + 1
    if UNITS.get(word(k), 0) > 0:
        return str(value + UNITS[word(k)]), k + 1  # "thirty four", "trente-quatre", "vingt et un"
    return str(value), j


def number_runs(text: str) -> Iterator[list[Part]]:
    """Maximal runs of number parts in ``text`` with only joiners between them."""
    tokens = [_Token(m.start(), m.end(), m.group().lower()) for m in _TOKEN.finditer(text)]
    run: list[Part] = []
    i = 0
    previous_end = -1
    while i < len(tokens):
        token = tokens[i]
        joined = previous_end >= 0 and _JOINER.fullmatch(text, previous_end, token.start) is not None
        if (
            token.word in AND
            and run
            and joined
            and i + 1 < len(tokens)
            and is_number_word(tokens[i + 1].word)
        ):
            # "zes en twee": an "and" between two numbers does not end the run.
            previous_end = token.end
            i += 1
            continue
        if not is_number_word(token.word):
            if run:
                yield run
            run, previous_end = [], -1
            i += 1
            continue
        if run and not joined:
            yield run
            run = []
        if token.word in PLUS and run:
            # A plus starts a new (international) number.
            yield run
            run = []
        digits, after = _read(tokens, i)
        if digits:
            run.append(Part(token.start, tokens[after - 1].end, digits))
        previous_end = tokens[after - 1].end
        i = after
    if run:
        yield run
