"""C-FIND work done once per distinct query, not once per query (issue 19).

A scanner asks the same question again and again ("my station, today"), in the same
bytes. What follows from those bytes alone is kept, keyed by them, the caller and the
device directory's generation:

* the SELECT (``mwl.build_query``: building and hashing the statement cost more than
  running it), and the response plan and its compiled encoder;
* each answered step's encoded bytes, keyed by ``mwl.ANSWER_KEY``: the step's id, the
  ``updated_at`` of its appointment, request and patient records (which every change to
  them moves) and the values of the reference data it shows. The getters of
  ``worklist.mwl`` are functions of (row, context) only, and the context is part of the
  query's key, so a changed step is a new key. Nothing can go stale.

The database is still read on every query (what is scheduled may change at any
moment) and every answer is still audited and committed before it leaves.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset

from worklist import mwl

# Bounds: distinct queries kept, and encoded steps kept per query (a day's list of a
# busy station is a few dozen).
MAX_QUERIES = 128
MAX_STEPS_PER_QUERY = 1024


@dataclass
class PreparedFind:
    query: mwl.Query
    plan: mwl.ResponsePlan
    _encoders: dict[bool, mwl.AnswerEncoder] = field(default_factory=dict)
    _encoded: dict[tuple[bool, Any], bytes] = field(default_factory=dict)

    def encode(self, row: Any, ctx: mwl.Context, implicit: bool) -> bytes:
        key = (implicit, mwl.answer_key(row))
        data = self._encoded.get(key)
        if data is None:
            encoder = self._encoders.get(implicit)
            if encoder is None:
                encoder = self._encoders[implicit] = mwl.AnswerEncoder(
                    self.plan, ctx.charset, implicit
                )
            data = encoder.encode(row, ctx)
            if len(self._encoded) >= MAX_STEPS_PER_QUERY:
                self._encoded.clear()
            self._encoded[key] = data
        return data


class PreparedFinds:
    """Raw identifier bytes (+ caller, zone, directory generation) → PreparedFind."""

    def __init__(self, max_queries: int = MAX_QUERIES):
        self._max = max_queries
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, PreparedFind] = OrderedDict()

    def get(self, key: tuple, build: Callable[[], tuple[mwl.Query, Dataset]]) -> PreparedFind:
        """The prepared query for ``key``; ``build`` makes it (and may raise) on a miss."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        query, identifier = build()
        prepared = PreparedFind(query, mwl.response_plan(identifier))
        with self._lock:
            self._entries[key] = prepared
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return prepared
