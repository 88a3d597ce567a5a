"""Run cells in worker processes (``keras-conformance run --jobs N``): the :class:`Pool` executor of
:func:`conformance.pipeline.schedule`.

The scheduler decides the order and the cells that are not run, in the parent, exactly as for a run
in one process; a worker only runs the cells it is sent. Each worker is a fresh interpreter
(multiprocessing's *spawn*: a framework must not be forked) that loads the implementation once from
its :class:`~conformance.pipeline.Recipe`, then runs one cell at a time with
:func:`conformance.runner.run_cell`.

A worker that dies (a segfault, ``os.abort()``, the out-of-memory killer) costs only the cell it was
running, reported as failed with the signal (the kit runs no native code of its own; a worker that exits
without a signal is a kit error). A worker that had run other cells first may have died of what they left
behind (memory, a compile cache), so its cell runs once more in a fresh worker, and only a crash there is
the cell's own. A worker stuck past the cell's time limit plus
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
from dataclasses import dataclass

from conformance import reproduce, runner
from conformance.options import UsageError
from conformance.outcomes import ERROR, FAILED, TIMEOUT, Result

# The worker's own SIGALRM stops a cell at its time limit and reports it; the parent steps in only
# when that did not happen this long after the limit (the worker unwinds a framework call first).
GRACE_SECONDS = 60.0
LOAD_SECONDS = 120.0  # a fresh worker's import of the framework, before a cell rerun in it starts


@dataclass(frozen=True)
class Loaded:
    """An implementation that only the workers load, as the parent process sees it: what it needs to
    decide, label and report cells (names, description, visible devices), without importing the framework."""

    name: str
    label: str
    layer_name: str | None
    description: dict
    visible: tuple
    dense_like: bool = True
    spec: object = None  # the LayerSpec of a layer that is not Dense-like

    @classmethod
    def of(cls, impl, backend=None) -> Loaded:
        return cls(impl.name, tagged(impl, backend), impl.layer_name, impl.describe(), tuple(impl.devices()), impl.dense_like,
                   None if impl.dense_like else impl.spec)

    def describe(self) -> dict:
        return dict(self.description)

    def devices(self) -> list[str]:
        return list(self.visible)


def tagged(impl, backend) -> str:
    """``impl``'s label, naming the Keras backend its pool was started on when there is one
    (``keras@jax``, ``keras@torch+Conv1D``): a run over several backends reports each apart."""
    if backend is None:
        return impl.label
    return f"{impl.name}@{backend}{impl.label[len(impl.name):]}"


def _lost_cell(cell, session, stuck, exitcode, first_death=None) -> Result:
    """The Result of a cell whose worker died (failed, naming the signal; an error without one) or was stuck
    (timeout); ``first_death`` when this was the cell's second worker."""
    contract, impl = cell.contract, session.impl
    # A signal is a native crash (the kit runs no native code of its own): the implementation's failure.
    crashed = exitcode is not None and exitcode < 0
    result = session._result(cell, TIMEOUT if stuck else FAILED if crashed else ERROR)
    if stuck:
        result.message = (f"{contract.id} did not finish within {session.timeout:g} s on {impl.label} / {cell.device}, and "
                          f"its worker process did not stop {GRACE_SECONDS:g} s later (stuck where the time limit cannot "
                          "interrupt it, such as a framework kernel): the worker was killed; raise the limit with --timeout")
    else:
        result.message = death_message(exitcode) + (", and again in a fresh worker" if first_death else "")
    result.reproduce = runner.reproduce_command(impl, contract.id, session.seed, session.profile)
    return result


def death_message(exitcode, worker="the worker process") -> str:
    """Why ``worker`` ended, from its exit code (negative: the signal that killed it)."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"{worker} died with {name} while running this cell"
    return f"{worker} exited with status {exitcode} while running this cell"


class WorkerDied(RuntimeError):
    """A worker process died while answering a request (a native crash of the framework)."""


class Pool:
    """Worker processes, each given one cell at a time; a dead or stuck worker is replaced.

    Each task names the :class:`~conformance.pipeline.Recipe` of its implementation, and a worker keeps
    the last one it loaded, so one pool serves the sessions of a run in turn (the layers of a spec
    file) without importing the framework again. Workers start loading ``warm`` at once: started before
    the parent loads the implementation, the imports of parent and workers overlap.
    """

    def __init__(self, size, warm=None, backend=None):
        self.warm = warm
        self.backend = backend  # KERAS_BACKEND of every worker (None: the environment's)
        self.threads = max(1, len(os.sched_getaffinity(0)) // size) if hasattr(os, "sched_getaffinity") else 1
        self.context = multiprocessing.get_context("spawn")
        self.workers = [self._start() for _ in range(size)]

    def _start(self):
        parent_end, worker_end = self.context.Pipe()
        process = self.context.Process(target=serve, args=(self.warm, worker_end, self.threads, self.backend),
                                       daemon=True)
        # Started with SIGINT ignored, a new interpreter keeps ignoring it: Ctrl-C reaches the parent only.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            process.start()
        finally:
            signal.signal(signal.SIGINT, previous)
        worker_end.close()
        return _Worker(process, parent_end)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        self.close(kill=kind is not None)

    def idle(self):
        return next((w for w in self.workers if w.ready and w.cell is None), None)

    def load(self, recipe) -> Loaded:
        """``recipe``'s implementation as a worker loaded it (that worker keeps it); UsageError, with the
        message the worker got, when it cannot be loaded."""
        while (worker := self.idle()) is None:
            if self.collect():
                raise RuntimeError("Pool.load is for an idle pool: a cell was running")
        worker.connection.send((recipe, None, None, None, None, None))
        self.warm = recipe
        try:
            described = worker.connection.recv()
        except (EOFError, OSError):
            worker.process.join()
            raise RuntimeError(f"a worker process died while loading {recipe.impl!r} "
                               f"({death_message(worker.process.exitcode)})") from None
        if isinstance(described, str):
            raise UsageError(described)
        return described

    def ask(self, request):
        """What an idle worker answers to ``request`` (see :func:`conformance.agreement.answer`), on the
        implementation it holds; :class:`WorkerDied`, naming the signal, when the worker dies on it (it is replaced)."""
        while (worker := self.idle()) is None:
            if self.collect():
                raise RuntimeError("Pool.ask is for an idle pool: a cell was running")
        worker.connection.send(("ask", request))
        try:
            return worker.connection.recv()
        except (EOFError, OSError):
            worker.process.join()
            worker.connection.close()
            self.workers[self.workers.index(worker)] = self._start()
            raise WorkerDied(death_message(worker.process.exitcode)) from None

    def busy(self) -> bool:
        return any(w.cell is not None for w in self.workers)

    def send(self, cell, session):
        self.warm = session.recipe  # a replacement worker loads what the run is on now
        self._give(self.idle(), cell, session)

    def _give(self, worker, cell, session, first_death=None, loading=0.0):
        """Send ``cell`` to ``worker``, its hard deadline ``loading`` seconds later for a worker still loading."""
        worker.cell, worker.session, worker.first_death = cell, session, first_death
        worker.deadline = (time.monotonic() + loading + session.timeout + GRACE_SECONDS) if session.timeout else None
        worker.connection.send((session.recipe, cell.contract.id, cell.device, session.profile, session.seed, session.timeout))

    def collect(self):
        """Wait for workers; ``[(cell, Result)]`` of the cells that ended (a lost worker's cell included)."""
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
            worker.connection.close()
            self.workers[index] = self._start()
            if worker.cell is None:
                continue
            exitcode = worker.process.exitcode
            if not stuck and exitcode is not None and exitcode < 0 and worker.served and worker.first_death is None:
                others = f"{worker.served} other cell" + ("s" if worker.served > 1 else "")
                first_death = f"{death_message(exitcode, worker='the first')}, after {others}"
                self._give(self.workers[index], worker.cell, worker.session, first_death, loading=LOAD_SECONDS)
                continue
            ended.append((worker.cell, _lost_cell(worker.cell, worker.session, stuck, exitcode, worker.first_death)))
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
        self.session = None
        self.deadline = None
        self.served = 0  # cells it has finished: a crash after some may be theirs as much as its cell's
        self.first_death = None  # how the cell's first worker died, when this one runs it again

    def receive(self):
        """``[(cell, Result)]`` sent since the last call; notes the worker's readiness."""
        ended = []
        try:
            while self.connection.poll():
                message = self.connection.recv()
                if message == "ready":
                    self.ready = True
                else:
                    if self.first_death is not None:
                        message.message = "; ".join(filter(None, [f"rerun in a fresh worker: {self.first_death}", message.message]))
                    ended.append((self.cell, message))
                    self.cell, self.session, self.deadline, self.first_death = None, None, None, None
                    self.served += 1
        except (EOFError, OSError):  # the worker died; collect() reports its cell
            pass
        return ended


def serve(warm, connection, threads=1, backend=None):
    """A worker's life: load ``warm``, then run each cell sent until ``None`` arrives (loading the
    task's recipe when it is another one).

    ``threads`` is the worker's share of the CPUs: the framework's thread pools are sized to it (unless
    the user set them), so N workers do not each start a pool as large as the machine. ``backend`` is
    the Keras backend the worker's Keras is imported with (``KERAS_BACKEND``), when given.
    """
    from conformance import agreement, catalog

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _silence_output()
    for variable in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(variable, str(threads))
    if backend is not None:
        os.environ["KERAS_BACKEND"] = backend
    loaded, impl = warm, _load(warm)
    contracts = {c.id: c for c in catalog.all_contracts()}
    connection.send("ready")
    while True:
        task = connection.recv()
        if task is None:
            return
        if task[0] == "ask":
            connection.send(agreement.answer(task[1], backend))
            continue
        recipe, contract_id, device, profile, seed, timeout = task
        if recipe != loaded:
            loaded, impl = recipe, _load(recipe)
        if contract_id is None:  # Pool.load: what the parent needs of the implementation, or why it cannot load
            connection.send(str(impl) if isinstance(impl, UsageError) else Loaded.of(impl, backend))
            continue
        result = runner.run_cell(contracts[contract_id], impl, device, profile, seed, timeout)
        result.impl = tagged(impl, backend)
        connection.send(_portable(result))


def _load(recipe):
    """``recipe``'s Implementation, or the UsageError that says why it cannot be loaded (the parent
    reports it); ``None`` for no recipe."""
    try:
        return recipe.load() if recipe is not None else None
    except UsageError as error:
        return error


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
