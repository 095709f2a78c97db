"""The root of Loket's error tree.

It lives in the bottom package so that every domain package can subclass it without
importing the shell (arrows point down only).
"""

from __future__ import annotations


class LoketError(Exception):
    """Base of every error Loket raises on purpose.

    ``code`` is a stable machine-readable string for API clients; ``status`` is the HTTP
    status the edge answers with. Subclasses set both as class attributes.
    """

    code: str = "error"
    status: int = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}
