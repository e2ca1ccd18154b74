"""How `make test` hands tests to its xdist workers (tests/scheduling.py), replayed with
stand-in workers on a simulated clock: every test runs once (every group too, however
many workers), groups whole on one worker, the slow files first and side by side."""

import heapq
from dataclasses import dataclass, field

import pytest
from xdist.remote import Producer

from tests.scheduling import GroupScheduling


class _Config:
    def __init__(self, workers: int):
        self.workers = workers

    def getvalue(self, name):
        return {"tx": [f"{self.workers}*popen"], "dist": "loadgroup"}[name]

    def getoption(self, name):
        return {"maxschedchunk": None}[name]


@dataclass(eq=False)
class _Worker:
    """Runs what it was sent in order, as an xdist worker does: a test only once the
    next one is queued (pytest needs the next item), the last one once shut down."""

    name: str
    gateway: object = None
    queue: list[int] = field(default_factory=list)
    shutting_down: bool = False
    ran: list[tuple[float, float, int]] = field(default_factory=list)  # start, end, index

    def __post_init__(self):
        self.gateway = type("Gateway", (), {"id": self.name})()

    def send_runtest_some(self, indices):
        self.queue.extend(indices)

    def shutdown(self):
        self.shutting_down = True

    def can_run(self) -> bool:
        return len(self.queue) >= 2 or (self.shutting_down and bool(self.queue))


def _run(collection, durations, *, workers, groups=None, slow_files=()):
    """Replay a run; the workers' records (start, end, index) and the end time."""
    groups = groups or {}

    def group_of(nodeid):
        return next((name for prefix, name in groups.items() if nodeid.startswith(prefix)), None)

    scheduler = GroupScheduling(
        _Config(workers),
        Producer("sched", enabled=False),
        group_of=group_of,
        group_order=list(dict.fromkeys(groups.values())),
        slow_files=slow_files,
    )
    nodes = [_Worker(f"gw{i}") for i in range(workers)]
    for node in nodes:
        scheduler.add_node(node)
    for node in nodes:
        scheduler.add_node_collection(node, collection)
    scheduler.schedule()
    now, running, order = 0.0, [], 0
    idle = set(nodes)
    while True:
        for node in sorted(idle, key=lambda n: n.name):
            if node.can_run():
                index = node.queue.pop(0)
                idle.discard(node)
                order += 1
                heapq.heappush(running, (now + durations[index], order, node, now, index))
        if not running:
            break
        now, _, node, started, index = heapq.heappop(running)
        node.ran.append((started, now, index))
        idle.add(node)
        scheduler.mark_test_complete(node, index, durations[index])
    assert not any(node.queue for node in nodes), "a worker was left waiting with tests queued"
    assert scheduler.tests_finished
    return nodes, now


def _suite(files: dict[str, tuple[int, float]]):
    collection, durations = [], []
    for path, (count, seconds) in files.items():
        for i in range(count):
            collection.append(f"{path}::test_{i}")
            durations.append(seconds)
    return collection, durations


def _ran(nodes, collection, prefix):
    return {
        node.name: [collection[index] for _, _, index in node.ran]
        for node in nodes
        if any(collection[index].startswith(prefix) for _, _, index in node.ran)
    }


GROUPS = {
    "tests/browser/": "browser",
    "tests/faults/": "faults",
    "bots/": "bots",
    "tests/test_outages.py::test_postgres": "outages-postgres",
}
SUITE = {
    "tests/browser/test_a.py": (20, 15.0),
    "bots/test_slack.py": (10, 2.0),
    "tests/faults/test_faults.py": (6, 30.0),
    "users/test_api.py": (300, 0.4),
    "chat/test_api.py": (300, 0.4),
    "tests/test_outages.py::test_postgres_down": (2, 20.0),
    "tests/test_runtime_image.py": (1, 55.0),
}


@pytest.mark.parametrize("workers", [1, 2, 3, 5])
def test_every_test_runs_once_and_each_group_whole_on_one_worker(workers):
    # given: four groups (more than some of these worker counts) and a slow file
    collection, durations = _suite(SUITE)

    # when
    nodes, _ = _run(
        collection,
        durations,
        workers=workers,
        groups=GROUPS,
        slow_files=["tests/test_runtime_image.py"],
    )

    # then: every test ran exactly once, the groups' last-collected included
    ran = sorted(index for node in nodes for _, _, index in node.ran)
    assert ran == list(range(len(collection)))
    for prefix in GROUPS:
        (tests,) = _ran(nodes, collection, prefix).values()  # one worker
        in_group = [t for t in tests if t.startswith(prefix)]
        first = tests.index(in_group[0])
        assert tests[first : first + len(in_group)] == in_group  # back to back, in order


def test_slow_files_go_first_each_whole_to_the_next_free_worker():
    # given: two slow files listed last in collection order
    collection, durations = _suite(
        {
            "users/test_api.py": (400, 0.5),
            "tests/test_api_fuzz.py": (4, 20.0),
            "tests/test_runtime_image.py": (1, 55.0),
        }
    )

    # when
    nodes, end = _run(
        collection,
        durations,
        workers=2,
        slow_files=["tests/test_runtime_image.py", "tests/test_api_fuzz.py"],
    )

    # then: each started at once on a worker of its own, and the run ends evenly
    starts = {
        collection[index].split("::")[0]: (node.name, start)
        for node in nodes
        for start, _, index in node.ran
        if collection[index].split("::")[0] != "users/test_api.py"
        and collection[index].endswith("test_0")
    }
    assert starts["tests/test_runtime_image.py"][1] == 0.0
    assert starts["tests/test_api_fuzz.py"][1] == 0.0
    assert starts["tests/test_runtime_image.py"][0] != starts["tests/test_api_fuzz.py"][0]
    assert end <= (200 + 80 + 55) / 2 + 5


def test_groups_go_out_in_the_order_listed_not_by_their_number_of_tests():
    # given: the fault group listed first (its few tests take longest), two workers
    collection, durations = _suite(SUITE)
    groups = {"tests/faults/": "faults", "tests/browser/": "browser", "bots/": "bots"}

    # when
    nodes, _ = _run(collection, durations, workers=2, groups=groups)

    # then: each worker's first test is from the next group in that order
    firsts = [collection[node.ran[0][2]] for node in nodes]
    assert firsts == ["tests/faults/test_faults.py::test_0", "tests/browser/test_a.py::test_0"]
