"""Run the cells of a session in worker processes (``keras-conformance run --jobs N``).

The parent process decides the order: a cell is sent to a worker only once the cells it rests on have
finished, and a cell that is skipped or blocked is decided in the parent by the same functions the
serial :func:`conformance.runner.run` uses, so the results are those of a serial run with the same
seed, cell for cell. Each worker is a fresh interpreter (multiprocessing's *spawn*: a framework must
not be forked) that loads the implementation once from its :class:`~conformance.pipeline.Recipe` and
then runs one cell at a time with :func:`conformance.runner.run_cell`.

A worker that dies (a segfault, ``os.abort()``, the out-of-memory killer) costs only the cell it was
running, reported as an error naming the signal; a worker stuck past the cell's time limit plus
:data:`GRACE_SECONDS` (a kernel that SIGALRM cannot interrupt) is killed and its cell is a timeout.
Either way a new worker takes its place and the run goes on.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import time
from typing import NamedTuple

from conformance import reproduce, runner
from conformance.outcomes import ERROR, TIMEOUT, Result

# The worker's own SIGALRM stops a cell at its time limit and reports it; the parent steps in only
# when that did not happen this long after the limit (the worker unwinds a framework call first).
GRACE_SECONDS = 60.0


def run(impl, contracts, profile="default", seed=None, devices=None, on_result=None, expected=None,
        timeout=runner.DEFAULT_TIMEOUT, on_start=None, shard=None, *, recipe, jobs=2, pool=None) -> list[Result]:
    """What :func:`conformance.runner.run` gives back, computed by ``jobs`` worker processes that load
    ``recipe``. ``impl`` (loaded in this process) decides the cells that are not run. A :class:`Pool`
    passed in is used and left open (one pool serves every layer of a run); else one is made here."""
    seed = runner.new_seed() if seed is None else seed
    devices = runner.device_matrix(impl) if devices is None else devices
    first_device = devices[0] if devices else "CPU:0"
    by_id = {c.id: c for c in contracts}
    ordered = list(runner.cells(runner.in_dependency_order(contracts), devices))
    rests_on = {(c.id, d): _prerequisite_cells(c, d, first_device, ordered) for c, d in ordered}
    shown = {(c.id, d) for c, d in ordered if runner.in_shard(c, shard)}
    needed = _with_prerequisites(shown, rests_on)
    pending = [(c, d) for c, d in ordered if (c.id, d) in needed]
    order = {cell: index for index, cell in enumerate((c.id, d) for c, d in runner.cells(contracts, devices))}
    finished, reported = {}, []

    def finish(contract, device, result):
        finished[(contract.id, device)] = runner.settle(result, contract, impl, expected)
        if (contract.id, device) in shown:  # not a prerequisite from another shard, decided only for blocking
            reported.append(result)
            if on_result is not None:
                on_result(result)

    own_pool = pool is None
    if own_pool:
        pool = Pool(min(jobs, max(1, len(pending))), warm=recipe)
    try:
        while pending or pool.busy():
            for contract, device in list(pending):
                if any(cell not in finished for cell in rests_on[(contract.id, device)]):
                    continue
                decided = runner.decided_without_running(contract, device, impl, finished, profile, seed, expected, first_device)
                if decided is None and not pool.idle():
                    continue
                pending.remove((contract, device))
                if on_start is not None and (contract.id, device) in shown:
                    on_start(contract, device)
                if decided is not None:
                    finish(contract, device, decided)
                else:
                    pool.send((contract.id, device), (recipe, contract.id, device, profile, seed, timeout), timeout)
            if not pending and not pool.busy():
                break  # the last cells were decided here: nothing left to wait for
            for (contract_id, device), result in pool.collect():
                contract = by_id[contract_id]
                if isinstance(result, Lost):
                    result = _lost_cell(contract, impl, device, profile, seed, timeout, result)
                reproduce.attach([result], impl)
                finish(contract, device, result)
    except KeyboardInterrupt:
        pool.close(kill=True)
        raise runner.RunInterrupted(sorted(reported, key=lambda r: order[(r.contract_id, r.device)])) from None
    if own_pool:
        pool.close()
    return sorted(reported, key=lambda r: order[(r.contract_id, r.device)])


def _prerequisite_cells(contract, device, first_device, ordered) -> list:
    """The cells :func:`conformance.runner.blocker` looks at for ``contract`` on ``device``."""
    existing = {(c.id, d) for c, d in ordered}
    return [cell for cell in runner.prerequisite_cells(contract, device, first_device) if cell in existing]


def _with_prerequisites(cells, rests_on) -> set:
    """``cells`` and every cell they rest on, directly or not."""
    needed, stack = set(), list(cells)
    while stack:
        cell = stack.pop()
        if cell not in needed:
            needed.add(cell)
            stack.extend(rests_on[cell])
    return needed


class Lost(NamedTuple):
    """A cell whose worker died (``stuck=False``, with the exit code) or was killed past the hard limit."""

    stuck: bool
    exitcode: int | None


def _lost_cell(contract, impl, device, profile, seed, timeout, lost) -> Result:
    """The Result of a cell whose worker died (error, naming the signal) or was stuck (timeout)."""
    status = TIMEOUT if lost.stuck else ERROR
    result = Result(contract.id, contract.area, contract.level, impl.label, device, status, seed=seed, profile=profile)
    if lost.stuck:
        result.message = (f"{contract.id} did not finish within {timeout:g} s on {impl.label} / {device}, and its worker "
                          f"process did not stop {GRACE_SECONDS:g} s later (stuck where the time limit cannot interrupt "
                          "it, such as a framework kernel): the worker was killed; raise the limit with --timeout")
    else:
        result.message = death_message(lost.exitcode)
    result.reproduce = runner.reproduce_command(impl, contract.id, seed, profile)
    return result


def death_message(exitcode) -> str:
    """Why a worker process ended, from its exit code (negative: the signal that killed it)."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the worker process died with {name} while running this cell"
    return f"the worker process exited with status {exitcode} while running this cell"


class Pool:
    """Worker processes, each given one cell at a time; a dead or stuck worker is replaced.

    Each task names the :class:`~conformance.pipeline.Recipe` of its implementation, and a worker keeps
    the last one it loaded, so one pool serves the sessions of a run in turn (the layers of a spec
    file) without importing the framework again. Workers start loading ``warm`` at once: started before
    the parent loads the implementation, the imports of parent and workers overlap.
    """

    def __init__(self, size, warm=None):
        self.warm = warm
        self.threads = max(1, len(os.sched_getaffinity(0)) // size) if hasattr(os, "sched_getaffinity") else 1
        self.context = multiprocessing.get_context("spawn")
        self.workers = [self._start() for _ in range(size)]

    def _start(self):
        parent_end, worker_end = self.context.Pipe()
        process = self.context.Process(target=serve, args=(self.warm, worker_end, self.threads), daemon=True)
        # Started with SIGINT ignored, a new interpreter keeps ignoring it: Ctrl-C reaches the parent only.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            process.start()
        finally:
            signal.signal(signal.SIGINT, previous)
        worker_end.close()
        return _Worker(process, parent_end)

    def idle(self):
        return next((w for w in self.workers if w.ready and w.cell is None), None)

    def busy(self) -> bool:
        return any(w.cell is not None for w in self.workers)

    def send(self, cell, task, timeout):
        worker = self.idle()
        worker.cell, worker.deadline = cell, (time.monotonic() + timeout + GRACE_SECONDS) if timeout else None
        self.warm = task[0]  # a replacement worker loads what the run is on now
        worker.connection.send(task)

    def collect(self):
        """Wait for workers; ``[(cell, Result or Lost)]`` of the cells that ended."""
        deadlines = [w.deadline for w in self.workers if w.cell is not None and w.deadline is not None]
        wait = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        multiprocessing.connection.wait([w.connection for w in self.workers] + [w.process.sentinel for w in self.workers], wait)
        ended = []
        for index, worker in enumerate(self.workers):
            ended += worker.receive()
            if worker.process.is_alive() and not (worker.deadline and time.monotonic() > worker.deadline and worker.cell):
                continue
            stuck = worker.process.is_alive()
            if stuck:  # past its hard limit: kill it
                worker.process.kill()
            worker.process.join()
            if worker.cell is None and not worker.ready:
                self.close(kill=True)
                raise RuntimeError(f"a worker process ended before it had loaded the implementation (exit code "
                                   f"{worker.process.exitcode}); a script that runs with jobs > 1 must guard its "
                                   "entry point with if __name__ == '__main__'")
            if worker.cell is not None:
                ended.append((worker.cell, Lost(stuck, worker.process.exitcode)))
            worker.connection.close()
            self.workers[index] = self._start()
        return ended

    def close(self, kill=False):
        for worker in self.workers:
            if kill:
                worker.process.kill()
            else:
                try:
                    worker.connection.send(None)
                except OSError:
                    pass
        for worker in self.workers:
            worker.process.join(timeout=None if kill else 10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()


class _Worker:
    def __init__(self, process, connection):
        self.process = process
        self.connection = connection
        self.ready = False
        self.cell = None
        self.deadline = None

    def receive(self):
        """``[(cell, Result)]`` sent since the last call; notes the worker's readiness."""
        ended = []
        try:
            while self.connection.poll():
                message = self.connection.recv()
                if message == "ready":
                    self.ready = True
                else:
                    ended.append((self.cell, message))
                    self.cell, self.deadline = None, None
        except (EOFError, OSError):  # the worker died; collect() reports its cell
            pass
        return ended


def serve(warm, connection, threads=1):
    """A worker's life: load ``warm``, then run each cell sent until ``None`` arrives (loading the
    task's recipe when it is another one).

    ``threads`` is the worker's share of the CPUs: the framework's thread pools are sized to it (unless
    the user set them), so N workers do not each start a pool as large as the machine.
    """
    from conformance import catalog

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _silence_output()
    for variable in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(variable, str(threads))
    loaded, impl = warm, warm.load() if warm is not None else None
    contracts = {c.id: c for c in catalog.all_contracts()}
    connection.send("ready")
    while True:
        task = connection.recv()
        if task is None:
            return
        recipe, contract_id, device, profile, seed, timeout = task
        if recipe != loaded:
            loaded, impl = recipe, recipe.load()
        result = runner.run_cell(contracts[contract_id], impl, device, profile, seed, timeout)
        connection.send(_portable(result))


def _silence_output():
    """Point the worker's stdout and stderr at /dev/null: the parent's progress line owns the terminal."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for descriptor in (1, 2):
        os.dup2(devnull, descriptor)
    os.close(devnull)


def _portable(result) -> Result:
    """``result`` ready to be pickled to the parent: a recorded ``st.data()`` keeps its drawn values
    without hypothesis's live object, and an example value that cannot be pickled travels as its repr."""
    example = result.extra.get("example")
    if example:
        portable = {}
        for name, value in example.items():
            if isinstance(value, reproduce.DrawLog):
                value = _values_only(value)
            try:
                pickle.dumps(value)
            except Exception:
                value = repr(value)
            portable[name] = value
        result.extra["example"] = portable
    try:
        pickle.dumps(result)
    except Exception:
        result.extra = {k: v if _picklable(v) else repr(v) for k, v in result.extra.items()}
    return result


def _values_only(log):
    copy = reproduce.DrawLog(None)
    copy.values = list(log.values)
    return copy


def _picklable(value) -> bool:
    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True
