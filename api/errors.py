"""Refusals only the HTTP front makes, beside the shared kinds in ``db.errors``."""

from db.errors import LoketError


class ExportExpired(LoketError):
    code = "export_expired"
    status = 410


class RangeNotSatisfiable(LoketError):
    code = "range_not_satisfiable"
    status = 416
