"""The run options, declared once: the CLI flags, the pytest plugin's options and the API's keywords
are all made from :data:`RUN_OPTIONS`, and each is checked by the one parser declared with it.

The environment is read here, once (:func:`environment`); nothing else in the kit reads
``KERAS_CONFORMANCE_*`` variables.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from conformance.outcomes import FAIL_ON

# Hypothesis examples each cell draws, per profile.
PROFILES = {"quick": 6, "default": 25, "thorough": 200}
DIFF_PROBES = ("outputs", "gradients", "history")  # what ``keras-conformance diff`` compares

# Per-cell time limit: a default-profile cell takes seconds and a thorough fit-based one about a
# minute; five minutes means the cell is stuck (a layer whose call never returns), not slow.
DEFAULT_TIMEOUT = 300.0

# Keras 3's backends (KERAS_BACKEND); NumPy and OpenVINO run inference only.
KERAS_BACKENDS = ("tensorflow", "jax", "torch", "numpy", "openvino")

LOGICAL_CPUS_VARIABLE = "KERAS_CONFORMANCE_LOGICAL_CPUS"
DEFAULT_LOGICAL_CPUS = 2  # two logical CPUs, so the cross-device contracts run without a GPU


class UsageError(ValueError):
    """What the user asked for cannot be done: a bad argument, a module that does not import, a layer
    that cannot be constructed. The message is one line naming the argument."""


def positive_seconds(value, name="timeout") -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not seconds > 0:
        raise UsageError(f"{name} must be a positive number of seconds, got {value!r}")
    return seconds


def positive_int(value, name) -> int:
    if isinstance(value, bool) or not re.fullmatch(r"\s*[0-9]+\s*", str(value)) or int(value) < 1:
        raise UsageError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def seed(value, name="seed") -> int:
    if isinstance(value, bool) or not re.fullmatch(r"\s*[0-9]+\s*", str(value)):
        raise UsageError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)


def jobs(value, name="jobs") -> int:
    """Worker processes for ``value``: a positive int, or ``"auto"`` for the CPUs this process may use."""
    if value == "auto":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if isinstance(value, bool) or not re.fullmatch(r"\s*[0-9]+\s*", str(value)) or int(value) < 1:
        raise UsageError(f"{name} must be a positive number of worker processes or 'auto', got {value!r}")
    return int(value)


def shard(value, name="shard") -> tuple[int, int]:
    """``(K, N)`` from ``"K/N"`` or ``(K, N)`` with 1 <= K <= N."""
    text = "/".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)
    k, slash, n = text.partition("/")
    if slash and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n):
        return int(k), int(n)
    raise UsageError(f"{name} must be K/N with 1 <= K <= N (the K-th of N shards), got {value!r}")


def backends(value, name="backends") -> tuple:
    """``value`` (``"tensorflow,jax"`` or a sequence) as a tuple of two or more distinct Keras 3 backends."""
    names = [part.strip() for part in (value.split(",") if isinstance(value, str) else value) if part.strip()]
    unknown = [n for n in names if n not in KERAS_BACKENDS]
    if unknown:
        raise UsageError(f"{name}: unknown Keras backend {unknown[0]!r}; the backends are {', '.join(KERAS_BACKENDS)}")
    if len(names) < 2 or len(set(names)) != len(names):
        raise UsageError(f"{name} must name two or more distinct Keras backends, comma-separated "
                         f"(e.g. tensorflow,jax,torch), got {value!r}")
    return tuple(names)


def one_of(choices):
    def check(value, name):
        if value not in choices:
            raise UsageError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    return check


@dataclass(frozen=True)
class Option:
    """One run option: its API keyword ``name`` (``--name-with-dashes`` on the command line,
    ``--keras-name-with-dashes`` in pytest), default, help, and the parser that checks a value."""

    name: str
    default: object
    help: str
    parse: object = None  # parse(value, name) -> value, raising UsageError naming the option
    choices: tuple | None = None
    metavar: str | None = None
    flag: bool = False  # a switch without a value
    many: bool = False  # several values (``nargs="+"``)
    repeatable: bool = False  # pytest: given several times, a value each (several implementations in one test run)
    where: tuple = ("cli", "pytest", "api")

    @property
    def flag_name(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value):
        """``value`` parsed; ``None`` stays ``None`` (the option's default applies)."""
        if value is None or self.parse is None:
            return value
        return self.parse(value, self.name)


RUN_OPTIONS = (
    Option("impl", "reference", "reference, keras, tf_keras, a module, or module:attribute (default: reference; in "
           "pytest: keras, and repeatable)", repeatable=True),
    Option("layer", None, "module:Class of the layer to test inside --impl: Dense-like alone, any layer with "
           "--layer-kwargs/--input-shape", metavar="MODULE:CLASS"),
    Option("layer_kwargs", None, 'constructor arguments of --layer, e.g. \'{"filters": 4, "kernel_size": 3}\'',
           metavar="JSON", where=("cli",)),
    Option("input_shape", None, "input shape of --layer without the batch axis, e.g. 16,3; None marks a dimension the "
           "kit may vary; alternative shapes (several ranks) separated by ';', e.g. '8;4,8'", metavar="D1,D2,...",
           where=("cli",)),
    Option("input_dtype", None, "dtype of the inputs of --layer (default float32; int32 for embeddings)", where=("cli",)),
    Option("input_range", None, "range of the input values of --layer (default -2,2)", metavar="LOW,HIGH", where=("cli",)),
    Option("inputs", None, "inputs of --layer as JSON, the TOML form of a spec's inputs: an object passes its entries by "
           'keyword, e.g. \'{"query": {"shape": [5, 8]}, "value": {"shape": [7, 8]}}\', a list is one positional list of '
           'tensors, e.g. \'[{"shape": [3]}, {"shape": [5]}]\'; null marks a variable dimension', metavar="JSON", where=("cli",)),
    Option("call_kwargs", None, 'constant keyword arguments of every call of --layer, e.g. \'{"use_causal_mask": true}\'',
           metavar="JSON", where=("cli",)),
    Option("layer_spec", None, "TOML file of [[layer]] specs, or a pyproject.toml with [[tool.keras-conformance.layer]]: "
           "check each layer", metavar="FILE", where=("cli", "pytest")),
    Option("contracts", None, "contract ids (wildcards allowed) or areas; default: all", metavar="PATTERN", many=True),
    Option("profile", "default", "hypothesis examples per cell: " + ", ".join(f"{p} ({n})" for p, n in PROFILES.items()),
           one_of(tuple(PROFILES)), choices=tuple(PROFILES)),
    Option("seed", None, "hypothesis seed; a fresh one, printed in the header, when not given", seed),
    Option("timeout", DEFAULT_TIMEOUT, "time limit per cell in seconds; a cell past it is reported as timeout and the "
           f"run goes on (default {DEFAULT_TIMEOUT:g})", positive_seconds, metavar="SECONDS"),
    Option("fail_on", "must", "which failures fail the run: must (default; SHOULD findings are only reported) or should",
           one_of(FAIL_ON), choices=FAIL_ON),
    Option("logical_cpus", None, f"split the CPU into this many logical devices so the cross-device contracts run "
           f"without a GPU (default: ${LOGICAL_CPUS_VARIABLE}, else {DEFAULT_LOGICAL_CPUS})", positive_int, metavar="N",
           where=("cli", "api")),
    Option("jobs", 1, "run the cells in N worker processes, each loading the implementation once; 'auto': one per "
           "usable CPU (default 1: in this process). The results are those of --jobs 1", jobs, metavar="N",
           where=("cli", "api")),
    Option("in_process", False, "run the cells in this process instead of an isolated worker (for a debugger; a native "
           "crash of the implementation then ends the run)", flag=True, where=("cli",)),
    Option("backends", None, "compare Keras 3 backends (with --impl keras): run the contracts on each backend of the "
           "comma-separated list, in its own workers, and the agreement contracts across them, e.g. tensorflow,jax,torch",
           backends, metavar="LIST", where=("cli",)),
    Option("shard", None, "run only the K-th of N stable shares of the contracts (by a checksum of the id); join the "
           "shards' --report-json files with `keras-conformance merge`", shard, metavar="K/N", where=("cli", "api")),
    Option("xfail", None, "expected-failures TOML file (see docs/plugin.md)", metavar="FILE"),
    Option("strict", False, "an expected failure that passes counts as a failure", flag=True),
)
BY_NAME = {option.name: option for option in RUN_OPTIONS}


def check(**values) -> dict:
    """``values`` parsed by their options; a name that is no run option is a UsageError."""
    unknown = sorted(set(values) - set(BY_NAME))
    if unknown:
        raise UsageError(f"unknown run option {unknown[0]!r}; the options are {', '.join(BY_NAME)}")
    return {name: BY_NAME[name].check(value) for name, value in values.items()}


def add_to_argparse(parser, where="cli") -> None:
    """Add every option used ``where`` to an argparse parser (or a pytest option group: ``where="pytest"``).

    Each value is parsed by its option's parser, so a bad value gets the same message from the CLI,
    the plugin and the API.
    """
    prefix = "--keras-" if where == "pytest" else "--"
    add = parser.addoption if where == "pytest" else parser.add_argument
    for option in RUN_OPTIONS:
        if where not in option.where:
            continue
        flag = prefix + option.name.replace("_", "-")
        keywords = {"dest": ("keras_" if where == "pytest" else "") + option.name, "help": option.help}
        if option.flag:
            add(flag, action="store_true", default=False, **keywords)
            continue
        # In pytest an option left unset is None: the plugin stays inert, and the API's default applies.
        keywords.update(default=None if where == "pytest" else option.default, metavar=option.metavar)
        if option.parse is not None and not option.choices:
            keywords["type"] = _argparse_type(option)
        if option.choices:
            keywords.update(choices=option.choices, metavar=None)
        if option.many:  # given again: the CLI takes the last selection, pytest (addopts plus the command line) all
            keywords.update(nargs="+", action="extend" if where == "pytest" else "store")
        if option.repeatable and where == "pytest":
            keywords["action"] = "append"
        add(flag, **keywords)


def api_doc() -> str:
    """The run options as an ``Args:`` section for the API's docstrings."""
    lines = ["    Run options (keywords):"]
    for option in RUN_OPTIONS:
        if "api" in option.where and option.name not in ("impl",):
            lines.append(f"        {option.name}: {option.help} (default {option.default!r})")
    lines.append("        spec: a conformance.specs.LayerSpec: any Keras-style layer, checked by the generic contracts")
    return "\n".join(lines) + "\n"


def _argparse_type(option):
    import argparse

    def parse(text):
        try:
            return option.parse(text, option.name)
        except UsageError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = option.name  # argparse names the type in its messages
    return parse


@dataclass(frozen=True)
class Environment:
    logical_cpus: int


def environment() -> Environment:
    """What the kit reads from the environment, read once per process."""
    global _ENVIRONMENT
    if _ENVIRONMENT is None:
        text = os.environ.get(LOGICAL_CPUS_VARIABLE)
        count = positive_int(text, LOGICAL_CPUS_VARIABLE) if text else DEFAULT_LOGICAL_CPUS
        _ENVIRONMENT = Environment(logical_cpus=count)
    return _ENVIRONMENT


_ENVIRONMENT = None
