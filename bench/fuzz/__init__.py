"""``python -m bench.fuzz``: Hypothesis-driven fuzzing of the REST API, the socket.io events and the
SDP offers of an embedded Loket (see ``bench.fuzz.runner`` for what counts as a failure)."""

from bench.fuzz.runner import Report, run

__all__ = ["Report", "run"]
