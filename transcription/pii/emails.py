"""E-mail addresses, written and as Whisper writes them from speech in English, Dutch, German and
French.

- Written: ``jan@example.com``.
- Spoken: the local part, the word for "@" ("at"; Dutch "apenstaartje"; German "at", "ät",
  "Klammeraffe"; French "arobase"), and the domain with the word for "." between its labels
  ("dot", "punt", "Punkt", "point"): "jan at example dot com", "jan apenstaartje voorbeeld punt
  nl", "anna at beispiel Punkt de", "marie arobase exemple point fr". The local part may be
  joined by those dots, underscores and dashes spoken too ("jan punt de vries").
- Fused or misheard: Whisper often runs a spoken address into one word ("janhatexample.com",
  "john that example dot com") or mishears its "at" ("Jan Pat, voor de oud-punt NL"), so a
  domain name with a common top-level domain within five words after a mail cue ("mail",
  "e-mail", "e-mailadres", "E-Mail-Adresse", "courriel", "adresse mail") is redacted too, with
  everything between the cue and it.
- Announced: after "my e-mail (address) is" ("mijn e-mailadres is", "meine E-Mail ist", "mon
  adresse mail est"), the rest of the sentence, up to twelve words, when it shows a sign of an
  address (an "@", a dotted name, a word for "at" or "dot" or what Whisper makes of them, a
  top-level domain): Whisper base wrote German espeak-ng speech of "peter at gmail punkt com"
  as "Beta-Art-Gemail-Punkt-Krom", which no address pattern can read, but which is still
  the visitor's address.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_AT_WORDS = r"at|ät|apenstaartje|apestaartje|klammeraffe|arobase|arrobase|arobas"
_DOT_WORDS = r"dot|punt|punkt|point"
_DOT = rf"(?:\.|[\s,-]+(?:{_DOT_WORDS})[\s,-]+)"
_JOIN_WORDS = (
    r"dot|punt|punkt|point|underscore|dash|hyphen|streepje|liggend\s+streepje|koppelteken|"
    r"unterstrich|bindestrich|tiret(?:\s+bas)?|moins|minus"
)
_LOCAL_JOIN = rf"(?:[._-]|\s+(?:{_JOIN_WORDS})\s+)"
_COMMON_TLDS = (
    "com|net|org|info|biz|eu|nl|be|de|fr|uk|lu|at|ch|es|it|pt|ie|dk|se|no|fi|pl|cz|io|co|me|"
    "email|online|shop|app|dev"
)
_WRITTEN = re.compile(r"(?<![\w.+%-])[\w.+%-]+@(?:[\w-]+\.)+[a-z]{2,24}\b", re.IGNORECASE)
_SPOKEN = re.compile(
    rf"\b(?P<local>[a-z0-9]+(?:{_LOCAL_JOIN}[a-z0-9]+)*)(?:\s+(?:{_AT_WORDS})\s+|\s*@\s*)"
    rf"{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}[a-z]{{2,24}}\b",
    re.IGNORECASE,
)
# Words before " at example.com" that are prose, not a mailbox ("look at", "visit us at").
_NOT_MAILBOXES = frozenset(
    {
        *("look", "looking", "looked", "us", "me", "you", "him", "her", "them", "it", "we", "i"),
        *("here", "there", "available", "online", "work", "working", "works", "is", "are", "was"),
        *("were", "be", "been", "site", "website", "page", "visit", "find", "found"),
    }
)
_CUE = (
    r"(?:e-?mail|mail)(?:[\s-]?(?:adres|adresse|address)(?:es|en)?)?(?:ed)?"
    r"|courriel|adresse\s+(?:e-?mail|mail|électronique|electronique)"
)
# What may stand between the cue and the address: "is", "ist", "est", "c'est", "naar", "an", ...
_FILLER = r"is|ist|est|c'est|lautet|luidt|me|at|to|on|via|it|was|naar|op|an|à|a|mijn|meine|mon|ma"
_MAIL_CUE = re.compile(
    rf"\b(?:{_CUE})(?:[\s,:]+(?:{_FILLER}))*[\s,:]+"
    rf"(?P<target>(?:[\w'+-]+[\s,]+){{0,4}}?{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}(?:{_COMMON_TLDS}))\b",
    re.IGNORECASE,
)


# "My e-mail address is ...": what follows, up to the end of the sentence (at most twelve words),
# is the address however the recogniser wrote it, if it has a sign of one in it.
_ANNOUNCED = re.compile(
    rf"\b(?:{_CUE})[\s,:]+(?:is|ist|est|c'est|lautet|luidt|was)[\s,:]+"
    r"(?P<target>[^.!?\s](?:[^.!?]|\.(?=\S)){0,120}?)(?=[.!?](?:\s|$)|$)",
    re.IGNORECASE,
)
_ADDRESS_SIGN = re.compile(
    rf"@|\w\.\w|\b(?:{_AT_WORDS}|{_DOT_WORDS}|et|art|à|{_COMMON_TLDS})\b",
    re.IGNORECASE,
)
_MAX_ANNOUNCED_WORDS = 12
# Where an announced address visibly ends: a top-level domain after a dot or a word for it.
_DOMAIN_END = re.compile(rf"(?:\.|[\s,-]+(?:{_DOT_WORDS})[\s,-]+)(?:{_COMMON_TLDS})\b", re.IGNORECASE)


def find_emails(text: str) -> Iterator[tuple[int, int]]:
    """Spans of ``text`` that are e-mail addresses (they may overlap; the redactor decides)."""
    for match in _WRITTEN.finditer(text):
        yield match.span()
    for match in _SPOKEN.finditer(text):
        if match.group("local").lower() not in _NOT_MAILBOXES:
            yield match.span()
    for match in _MAIL_CUE.finditer(text):
        yield match.span("target")
    for match in _ANNOUNCED.finditer(text):
        start, end = match.span("target")
        # Whisper may run the next sentence on without a full stop: stop at the domain.
        domain = _DOMAIN_END.search(text, start, end)
        if domain is not None:
            end = domain.end()
        target = text[start:end]
        if len(target.split()) <= _MAX_ANNOUNCED_WORDS and _ADDRESS_SIGN.search(target):
            yield start, end
