"""PII redaction of transcript text before it is stored: each match becomes a typed placeholder.

What is recognised (``PiiKind``), in English, Dutch, German and French, written and as Whisper
writes it from speech (each kind's rules are in its module of ``transcription.pii``):

- **Phone numbers**: written, national or international, and spoken, in digits or number words
  ("06 12 34 56 78", "zero six one two", "nul zes twaalf vierendertig", "null eins fünf eins",
  "zéro six, douze, trente-quatre", "0,1,2,3,4,5,6,8"), starting with 0, 00 or +.
- **E-mail addresses**: written, spoken ("jan at example dot com", "jan apenstaartje voorbeeld
  punt nl", "anna at beispiel Punkt de", "marie arobase exemple point fr") and fused after a
  mail cue ("mail janhatexample.com").
- **IBANs**: accepted only when the ISO 13616 mod-97 check holds.
- **Licence plates**: NL, BE, FR, DE, AT, LU and CH formats, in capitals.

Not covered: IBANs or plates spelled letter by letter.
A match may run across Whisper's segment boundaries (people pause inside a phone number):
``redact_segments`` searches a speaker's segments as one text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from transcription.config import DEFAULT_PHONE_REGIONS
from transcription.pii import PhoneFinder, find_emails, find_ibans, find_plates
from transcription.pii import iban_is_valid as iban_is_valid
from transcription.transcript import Segment


class PiiKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    IBAN = "iban"
    PLATE = "plate"

    @property
    def placeholder(self) -> str:
        return f"[{self.name}]"


@dataclass(frozen=True, slots=True)
class PiiMatch:
    """``text[start:end]`` is personal data of ``kind``."""

    start: int
    end: int
    kind: PiiKind


# -- the redactor ----------------------------------------------------------------------------


class Redactor:
    """Finds and replaces personal data of the enabled ``kinds``; see the module docstring."""

    def __init__(
        self, *, regions: Sequence[str] = DEFAULT_PHONE_REGIONS, kinds: Iterable[PiiKind] = tuple(PiiKind)
    ) -> None:
        self.kinds = frozenset(kinds)
        self._phones = PhoneFinder(regions)

    def find(self, text: str) -> list[PiiMatch]:
        """Non-overlapping matches in text order; where candidates overlap the longest wins, and
        two of a kind with only spaces between them are one ("jan punt de" + "vries at
        voorbeeld punt nl": a surname with a space, read by two rules)."""
        candidates: list[PiiMatch] = []
        finders = {
            PiiKind.EMAIL: find_emails,
            PiiKind.IBAN: find_ibans,
            PiiKind.PHONE: self._phones.find,
            PiiKind.PLATE: find_plates,
        }
        for kind, finder in finders.items():
            if kind in self.kinds:
                candidates.extend(PiiMatch(start, end, kind) for start, end in finder(text) if end > start)
        priority = list(finders)
        candidates.sort(key=lambda m: (-(m.end - m.start), priority.index(m.kind), m.start))
        chosen: list[PiiMatch] = []
        for candidate in candidates:
            if all(candidate.end <= kept.start or candidate.start >= kept.end for kept in chosen):
                chosen.append(candidate)
        merged: list[PiiMatch] = []
        for match in sorted(chosen, key=lambda m: m.start):
            last = merged[-1] if merged else None
            if last is not None and last.kind == match.kind and not text[last.end : match.start].strip():
                merged[-1] = PiiMatch(last.start, match.end, match.kind)
            else:
                merged.append(match)
        return merged

    def redact(self, text: str) -> str:
        """``text`` with every match replaced by its placeholder, e.g. ``[PHONE]``."""
        pieces, position = [], 0
        for match in self.find(text):
            pieces.append(text[position : match.start])
            pieces.append(match.kind.placeholder)
            position = match.end
        pieces.append(text[position:])
        return "".join(pieces)

    def redact_segments(self, segments: Sequence[Segment]) -> tuple[Segment, ...]:
        """Redact one speaker's consecutive segments as one text, so that a number or address
        split over two segments is still found. The placeholder goes where the match starts; the
        rest of the match is removed from the following segments; a segment left empty is dropped."""
        if not segments:
            return ()
        bounds, position = [], 0
        for segment in segments:
            bounds.append((position, position + len(segment.text)))
            position += len(segment.text) + 1
        joined = " ".join(segment.text for segment in segments)
        matches = self.find(joined)
        redacted: list[Segment] = []
        for segment, (first, last) in zip(segments, bounds, strict=True):
            pieces, cursor = [], first
            for match in matches:
                if match.end <= first or match.start >= last:
                    continue
                if match.start > cursor:
                    pieces.append(joined[cursor : match.start])
                if match.start >= first:
                    pieces.append(match.kind.placeholder)
                cursor = max(cursor, min(match.end, last))
            pieces.append(joined[cursor:last])
            text = " ".join("".join(pieces).split())
            if text:
                redacted.append(dataclasses.replace(segment, text=text))
        return tuple(redacted)
