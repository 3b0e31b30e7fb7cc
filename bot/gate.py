"""Acknowledgements first: background LINE processing steps aside while webhook requests are in flight.

A webhook request is cheap (signature, JSON, one group-committed insert); processing the event it
stored is not (the conversation, a Sudachi analysis of the whole draft on the NLP thread, replies).
Both share one event loop and, through the GIL, the NLP and writer threads: under a burst of
webhooks the processing made every acknowledgement wait for the CPU (issue #7: p99 157 ms at 100
connections). LINE counts a slow acknowledgement as a failed delivery; a reply that comes a second
later costs nothing. So a worker about to process an event first waits until no webhook request
is in flight, but never longer than ``wait_max`` after the event was received: under a sustained
load processing still keeps pace with intake, a couple of seconds behind it, well inside the reply
token's window.
"""

from __future__ import annotations

import asyncio
import contextlib


class IntakeGate:
    def __init__(self, wait_max: float) -> None:
        self.wait_max = wait_max
        self.in_flight = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self.waits = 0  # how many times processing stepped aside (metrics, tests)

    def enter(self) -> None:
        """A webhook request started; pair with :meth:`leave` (try/finally)."""
        self.in_flight += 1
        self._quiet.clear()

    def leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight <= 0:
            self.in_flight = 0
            self._quiet.set()

    async def quiet(self, age: float) -> None:
        """Wait until no webhook request is in flight, or until the event is ``wait_max`` old.

        ``age``: seconds since the event was received (a recovered old event does not wait).
        """
        budget = self.wait_max - age
        if self.in_flight == 0 or budget <= 0:
            return
        self.waits += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._quiet.wait(), budget)
