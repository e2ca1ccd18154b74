"""How `make test` hands the tests to its pytest-xdist workers (`--dist loadgroup`).

Two kinds of units go before the ordinary tests:

- **Groups** (``XDIST_GROUPS`` in the root ``conftest.py``): tests that share one
  expensive bed (the browser platform, the fault bed, the PostgreSQL copy, the bot
  worker) run whole on one worker. A worker asking for work takes the next group, in
  the order they are listed (the longest first), and nothing else until that group is
  down to its last test: tests queued behind a group of minutes would only wait there
  while the other workers run out of work (xdist never takes back what it queued).
  Every group runs, however many workers there are (one worker runs them one after
  the other; the scheduler before this one handed out one group per worker and
  silently dropped the rest).
- **Slow files** (``SLOW_FILES``): the longest single files, each handed out whole and
  first, so that none of them starts last and holds up the end of the run.

Everything else goes out in chunks as by xdist's ``--dist load``. Built on xdist's
index-based scheduler: schemathesis gives all its cases one node id, which xdist's
scope schedulers (keyed by node id) would run once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdist.scheduler import LoadScheduling


def _prefix_of(nodeid: str, prefixes: Sequence[str]) -> str | None:
    for prefix in prefixes:
        if nodeid.startswith(prefix):
            return prefix
    return None


class GroupScheduling(LoadScheduling):
    """``LoadScheduling`` with whole groups first, then whole slow files, then chunks."""

    def __init__(
        self,
        config,
        log=None,
        *,
        group_of: Callable[[str], str | None],
        group_order: Sequence[str] = (),
        slow_files: Sequence[str] = (),
    ) -> None:
        super().__init__(config, log)
        self.group_of = group_of
        self.group_order = tuple(group_order)
        self.slow_files = tuple(slow_files)
        self.groups: list[list[int]] = []  # not yet handed out, in hand-out order
        self.slow: list[list[int]] = []  # slow files not yet handed out, in listed order
        self.grouped: set[int] = set()

    # -- what is left -------------------------------------------------------------

    @property
    def tests_finished(self) -> bool:
        return not self.groups and not self.slow and super().tests_finished

    @property
    def has_pending(self) -> bool:
        return bool(self.groups or self.slow) or super().has_pending

    def _group_left(self, node) -> int:
        return sum(1 for index in self.node2pending[node] if index in self.grouped)

    # -- handing out ----------------------------------------------------------------

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is not None:
            for node in self.nodes:
                self.check_schedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = next(iter(self.node2collection.values()))
        groups: dict[str, list[int]] = {}
        slow: dict[str, list[int]] = {}
        rest = []
        for index, nodeid in enumerate(self.collection):
            group = self.group_of(nodeid)
            file = _prefix_of(nodeid, self.slow_files)
            if group:
                groups.setdefault(group, []).append(index)
            elif file:
                slow.setdefault(file, []).append(index)
            else:
                rest.append(index)
        # In the order given (the longest first), then any other by size.
        rank = {name: i for i, name in enumerate(self.group_order)}
        self.groups = [
            groups[name]
            for name in sorted(groups, key=lambda n: (rank.get(n, len(rank)), -len(groups[n])))
        ]
        self.grouped = {index for indices in self.groups for index in indices}
        self.slow = [slow[file] for file in self.slow_files if file in slow]
        self.pending[:] = rest
        if self.maxschedchunk is None:
            self.maxschedchunk = len(self.collection)
        for node in self.nodes:
            self.check_schedule(node)

    def check_schedule(self, node, duration: float = 0) -> None:
        if node.shutting_down:
            return
        queue = self.node2pending[node]
        # A worker runs a test once the next one is queued (pytest's next item): so a
        # group's worker gets more once the group is down to its last test.
        if self._group_left(node) > 1:
            return
        if self.groups:
            self._send(node, self.groups.pop(0))
            if self._group_left(node) > 1:
                return
        if self.slow:
            if len(queue) < 2:
                self._send(node, self.slow.pop(0))  # one per worker: they run side by side
            while len(queue) < 2 and (self.pending or self.slow):
                if self.pending:
                    LoadScheduling._send_tests(self, node, 1)
                else:
                    self._send(node, self.slow.pop(0))
            if len(queue) >= 2:
                return
        if self.pending:
            super().check_schedule(node, duration)
        else:
            node.shutdown()

    def _send(self, node, indices: list[int]) -> None:
        self.node2pending[node].extend(indices)
        node.send_runtest_some(indices)
