"""The kinds of personal data that redaction finds, one module each: phone numbers (with the
number words of English, Dutch, German and French), e-mail addresses (written and spoken),
IBANs and licence plates. Each finder yields spans; ``transcription.redaction`` chooses among
overlapping ones and writes the placeholders."""

from transcription.pii.emails import find_emails
from transcription.pii.ibans import find_ibans, iban_is_valid
from transcription.pii.phones import PhoneFinder
from transcription.pii.plates import find_plates

__all__ = ["PhoneFinder", "find_emails", "find_ibans", "find_plates", "iban_is_valid"]
