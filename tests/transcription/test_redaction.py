"""PII redaction: what must go (as spoken and as Whisper writes it) and what must stay."""

from __future__ import annotations

import pytest

from transcription import PiiKind, Redactor, Segment, iban_is_valid

REDACTOR = Redactor()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Phone numbers, written and the ways Whisper writes spoken ones.
        ("Call me on 06 12 34 56 78 please", "Call me on [PHONE] please"),
        ("Call me on 0612345678.", "Call me on [PHONE]."),
        ("My number is +31 6 1234 5678.", "My number is [PHONE]."),
        ("Please call me on plus 3 1 6 1 2 3 4 5 6 7 8", "Please call me on [PHONE]"),
        ("Please call me on plus 3-1-6-1-2-3-4-5-6-7-8.", "Please call me on [PHONE]."),
        ("My phone number is 0.6 12 34 56 78 thanks", "My phone number is [PHONE] thanks"),
        ("zero six one two three four five six seven eight", "[PHONE]"),
        ("it is zero six twelve thirty four fifty six seventy eight", "it is [PHONE]"),
        ("zero two zero, double seven, one two three four five", "[PHONE]"),
        # The longest run that is a valid number wins (06123456784 is valid in Germany).
        ("Call me on 0, 6, 1, 2, 3, 4, 5, 6, 7, 8, 4, bye", "Call me on [PHONE], bye"),
        # A digit lost by the recogniser: 9 digits after a 0 are still taken for a number.
        ("Call me on 061245678 or not", "Call me on [PHONE] or not"),
        ("Amsterdam 020-1234567, Brussels +32 2 123 45 67", "Amsterdam [PHONE], Brussels [PHONE]"),
        ("Berlin 030 1234567 or Paris 01 23 45 67 89", "Berlin [PHONE] or Paris [PHONE]"),
        ("London 020 7946 0958 or 0044 20 7946 0958", "London [PHONE] or [PHONE]"),
        # E-mail addresses: written, spoken, and fused by the recogniser after a mail cue.
        ("write to jan.devries@example.nl today", "write to [EMAIL] today"),
        ("mail jan at example.com", "mail [EMAIL]"),
        ("mail jan.devries at example dot nl or else", "mail [EMAIL] or else"),
        ("it is jan dot devries at example dot com", "it is [EMAIL]"),
        ("or mail john that example dot com", "or mail [EMAIL]"),
        ("Call me or mail that example.com", "Call me or mail [EMAIL]"),
        ("My email address is janadexample.com", "My email address is [EMAIL]"),
        ("You can email me at Peterrattgmail.com", "You can email me at [EMAIL]"),
        ("send an email to jatexample.com.", "send an email to [EMAIL]."),
        # IBANs, with and without spaces, any case.
        ("my IBAN is NL91 ABNA 0417 1643 00 thanks", "my IBAN is [IBAN] thanks"),
        ("pay to DE89370400440532013000.", "pay to [IBAN]."),
        ("be71 0961 2345 6769", "[IBAN]"),
        ("GB29 NWBK 6016 1331 9268 19 and FR14 2004 1010 0505 0001 3M02 606", "[IBAN] and [IBAN]"),
        # Licence plates: NL sidecodes, BE, DE.
        ("my car is 12-ABC-3 and hers AB-123-C", "my car is [PLATE] and hers [PLATE]"),
        ("also 45-JK-67, XX-99-ZZ and 9-XXX-99", "also [PLATE], [PLATE] and [PLATE]"),
        ("Belgian 1-ABC-123", "Belgian [PLATE]"),
        ("German B-AB 1234, M AB 123 and HH-AB 123E", "German [PLATE], [PLATE] and [PLATE]"),
    ],
)
def test_personal_data_is_replaced_by_a_typed_placeholder(text: str, expected: str) -> None:
    assert REDACTOR.redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Dutch: digits, pairs and compounds, spelt as one word or three.
        (
            "Mijn nummer is nul zes twaalf vierendertig zesenvijftig achtenzeventig.",
            "Mijn nummer is [PHONE].",
        ),
        ("Bel me op nul zes, een twee, drie vier, vijf zes, zeven acht", "Bel me op [PHONE]"),
        ("nul zes twaalf vier en dertig zes en vijftig acht en zeventig", "[PHONE]"),
        ("Bel plus eenendertig zes twaalf vierendertig zesenvijftig achtenzeventig", "Bel [PHONE]"),
        # German, and the way Whisper base wrote a dictated number (a digit lost).
        (
            "Meine Nummer ist null eins fünf eins, zwei drei vier fünf sechs sieben acht.",
            "Meine Nummer ist [PHONE].",
        ),
        ("Meine Nummer ist 0,1,2,3,4,5,6,8.", "Meine Nummer ist [PHONE]."),
        (
            "Rufen Sie null dreißig, vierunddreißig, sechsundfünfzig, achtundsiebzig an",
            "Rufen Sie [PHONE] an",
        ),
        # Announced, a number is one even when the recogniser lost its leading zero, and a
        # number read in groups may come back with a magnitude in it.
        ("Meine Nummer ist nun 1, 5, 1, 2, 3, 4, 5, 6, 7, 8.", "Meine Nummer ist nun [PHONE]."),
        (
            "Mon numéro de téléphone est le. Mais haut. 6. 1. 2. 3. 4. 5. 6. 7. 8.",
            "Mon numéro de téléphone est le. Mais haut. [PHONE].",
        ),
        ("Meine Telefonnummer ist 0151,23 Millionen 456,789.", "Meine Telefonnummer ist [PHONE]."),
        ("mijn telefoon nummer is 612345678", "mijn telefoon nummer is [PHONE]"),
        # French: pairs, with the vigesimal tens (France, Belgium, Switzerland).
        (
            "Mon numéro est zéro six, douze, trente-quatre, cinquante-six, soixante-dix-huit.",
            "Mon numéro est [PHONE].",
        ),
        (
            "C'est le zéro un, quarante-deux, soixante et onze, quatre-vingt-dix-neuf, quatre-vingts",
            "C'est le [PHONE]",
        ),
        ("zéro quatre, septante-deux, nonante-neuf, huitante, vingt et un", "[PHONE]"),
        ("Appelez le 06 12 34 56 78 ou le +33 6 12 34 56 78", "Appelez le [PHONE] ou le [PHONE]"),
        # Spoken e-mail addresses: apenstaartje, at, Punkt, point, arobase.
        ("Mijn e-mailadres is jan apenstaartje voorbeeld punt nl.", "Mijn e-mailadres is [EMAIL]."),
        ("mail naar jan punt de vries at voorbeeld punt nl", "mail naar [EMAIL]"),
        ("Meine E-Mail-Adresse ist anna at beispiel Punkt de.", "Meine E-Mail-Adresse ist [EMAIL]."),
        ("Schreiben Sie an max unterstrich muster ät firma punkt de", "Schreiben Sie an [EMAIL]"),
        ("Mon adresse est marie arobase exemple point fr.", "Mon adresse est [EMAIL]."),
        ("Mon courriel est pierrearobaseexemple.fr", "Mon courriel est [EMAIL]"),
        ("Mijn mailadres is janapenstaartjevoorbeeld.nl", "Mijn mailadres is [EMAIL]"),
        # Announced, an address is redacted however the recogniser wrote it.
        ("Meine E-Mail ist Beta-Art-Gemail-Punkt-Krom. Guten Tag!", "Meine E-Mail ist [EMAIL]. Guten Tag!"),
        ("Milo, E-Mail, Ist, Beta, Art, G-Mail, Bunked, Corm", "Milo, E-Mail, Ist, [EMAIL]"),
        (
            "Mijn e-mail address is Jan Pat, voor de oud-punt NL. Dank u.",
            "Mijn e-mail address is [EMAIL]. Dank u.",
        ),
        ("Mon adresse mail est marie à obas exemple point fr.", "Mon adresse mail est [EMAIL]."),
        # ...up to its domain, when Whisper runs the next sentence on without a full stop.
        (
            "Mijn e-mail address is Jan 8, voorbeeld.nl Goedemiddag, ik bel over mijn auto.",
            "Mijn e-mail address is [EMAIL] Goedemiddag, ik bel over mijn auto.",
        ),
        # Licence plates: FR (SIV and FNI), AT, LU, CH.
        (
            "Ma voiture est immatriculée AB-123-CD ou AB 123 CD.",
            "Ma voiture est immatriculée [PLATE] ou [PLATE].",
        ),
        ("l'ancienne plaque 1234 AB 56 et 123 ABC 2A", "l'ancienne plaque [PLATE] et [PLATE]"),
        ("Kennzeichen W 12345 X, GU 123 AB und L-1 ABC", "Kennzeichen [PLATE], [PLATE] und [PLATE]"),
        ("Luxemburg AB 1234", "Luxemburg [PLATE]"),
        ("Zürich ZH 123456 und Genève GE 54321", "Zürich [PLATE] und Genève [PLATE]"),
    ],
)
def test_personal_data_in_dutch_german_and_french_is_replaced_by_a_typed_placeholder(
    text: str, expected: str
) -> None:
    assert REDACTOR.redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "In 2023 we sold 1500 cars for 25000 euros.",
        "The price is € 1.250,00 or 1,250.50 dollars, 19.99 a month.",
        "We open at 09:30 and close at 17:00.",
        "The meeting is on 12-05-2023 at 10 AM with 5 people.",
        "He was born on 01-05-1985 in room 101.",
        "The invoice number is 2023 0045 1234.",
        "I want a BMW 320d, a VW ID 3, a BMW M 340 or an Audi A4.",
        "I AM 30 years old.",
        "Between 10 and 20 percent, one two three go.",
        "Take the A12 and then exit 5 to Utrecht.",
        "Please look at example.com for details, we are at example.org.",
        "ISO-9001, COVID-19, UTF-8, MP3 and Windows 10.",
        "version 1.2.3.4 build 0.6.12",
        "She is sixty five and has two kids, one dog.",
        "The mail arrived at nine.",
        "Wir haben 2023 rund 1500 Autos verkauft, für 25.000 Euro.",
        "Der Termin ist am 01.02.2024 um 09:30 Uhr, am 12.05.2023 um 10 Uhr.",
        "Ik ben vijfenzestig en heb twee kinderen en drie auto's.",
        "Il a soixante-dix-huit ans, deux chiens et quatre-vingts moutons.",
        "De rente is nul komma vijf procent, nul euro eigen risico.",
        "Die Nummer null, eins, zwei, drei war besetzt.",
        "Die Norm ISO 9001 und DIN 1234 gilt, die A1 und die B 27 sind gesperrt.",
        "Nous sommes le 14 juillet, à 8 h 30, sur la N 7 et l'A 6.",
        "Ihre Kundennummer ist 12345678 und die Rechnung 20230045.",
        "I will call you back in 10 minutes, 15 at most, about order 123456789.",
        "Mijn e-mailadres is veranderd, maar mijn adres niet.",
        "Meine E-Mail ist leider im Spam gelandet.",
        "Ik rijd een VW ID 4 of een BMW X 3, niet meer dan 120 KM per uur.",
    ],
)
def test_ordinary_numbers_and_words_survive(text: str) -> None:
    assert REDACTOR.redact(text) == text


def test_iban_check_is_mod_97() -> None:
    assert iban_is_valid("NL91 ABNA 0417 1643 00")
    assert not iban_is_valid("NL91 ABNA 0417 1643 01")
    assert not iban_is_valid("NL91 ABNA 0417 1643 0")  # wrong length for NL
    assert not iban_is_valid("XX91 ABNA 0417 1643 00")  # unknown country
    # Wrong check digits: not an IBAN (its digit groups may still be taken for a phone number).
    assert "[IBAN]" not in REDACTOR.redact("NL91 ABNA 0417 1643 01 is wrong")


def test_a_number_split_over_two_segments_is_redacted_where_it_starts() -> None:
    segments = [
        Segment(0.0, 2.0, "You can call me on 06 12"),
        Segment(2.5, 4.0, "34 56 78"),
        Segment(4.5, 6.0, "or mail jan at"),
        Segment(6.0, 7.0, "example dot com. Thanks!"),
    ]
    redacted = REDACTOR.redact_segments(segments)
    # The second segment held only the rest of the number: it is dropped, not left empty.
    assert [(s.start, s.text) for s in redacted] == [
        (0.0, "You can call me on [PHONE]"),
        (4.5, "or mail [EMAIL]"),
        (6.0, ". Thanks!"),
    ]


def test_kinds_can_be_switched_off() -> None:
    only_email = Redactor(kinds=[PiiKind.EMAIL])
    assert only_email.redact("call 0612345678 or mail jan@example.com") == "call 0612345678 or mail [EMAIL]"
    assert Redactor(kinds=[]).redact("call 0612345678") == "call 0612345678"


def test_phone_regions_are_configurable() -> None:
    # 030 1234567 is a Berlin number; with only NL configured it is too short for NL and survives.
    assert Redactor(regions=["NL"]).redact("ring 030 12345") == "ring 030 12345"
    assert Redactor(regions=["DE"]).redact("ring 030 12345") == "ring [PHONE]"


def test_overlapping_candidates_keep_the_longest() -> None:
    # The IBAN's digit groups alone could pass for something else; the whole IBAN wins.
    matches = REDACTOR.find("IBAN NL91 ABNA 0417 1643 00.")
    assert [(m.kind, m.start, m.end) for m in matches] == [(PiiKind.IBAN, 5, 27)]
