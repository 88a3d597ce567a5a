"""Contracts that compare Keras 3 backends: the same layer config, the same weights (moved with
``get_weights``/``set_weights``) and the same inputs give the same results on each backend.

They run on a :class:`~conformance.agreement.Backends` (``keras-conformance run --impl keras
--backends tensorflow,jax,torch``): every example is computed by each backend's worker and compared
here. Float32 results are compared within a bound measured on the example, never a fixed ``atol``:
twice the largest gap between a backend's float32 result and its own float64 twin (the float32
rounding of that computation, which grows with the reduction size), plus one float32 ulp. When every
backend rejects an example the same way (the same exception type), they agree.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from conformance import agreement, structures
from conformance.contracts.generic import FLOAT64_OVER_FLOAT32, _float32_allowance, _magnitude
from conformance.fixtures import require
from conformance.registry import MUST, NotApplicable, contract

DATA = {"data": st.data()}
# float64 results of two backends may differ by float64 rounding: the float32 rounding of the same
# computation scaled to float64 (FLOAT64_OVER_FLOAT32), with this margin, and this many float64 ulps of
# the largest output for the final roundings. A float64 layer computed in float32 anywhere misses it by ~2^29.
FLOAT64_MARGIN = 16
# The measured rounding misses what a backend's float64 twin cannot show: math kernels (rsqrt, tanh, exp, a
# fused normalization) that round a few ulps apart, and float64 layers computed partly in float32 (TensorFlow's
# bilinear resize, torch's matmul), whose twin then shares its float32 rounding. Float32 results therefore get
# this many float32 ulps of the largest output on top of it (2^-19 relative): seen gaps were 2-3 ulps, while a
# padding, a state order or an interpolation placed differently moves outputs by orders of magnitude more.
FLOAT32_KERNEL_ULPS = 16
FLOAT64_FLOOR_ULPS = 64


def _on_backends(impl, device):
    """A ``requires``: n/a outside a cross-backend run."""
    if isinstance(impl, agreement.Backends):
        return None
    return "compares Keras backends: run with --impl keras --backends tensorflow,jax,torch (two or more)"


def _draw_example(impl, data):
    return data.draw(impl.spec.examples(mask=impl.draws_mask), label="x")


def _everywhere(impl, x, weights=None, **request) -> dict:
    """``{backend: answer}`` of a fresh layer built on ``x`` on every backend (float32 unless ``request``
    says ``dtype``), each given ``weights``, else the weights the first backend's initializers drew;
    ``{}`` when every backend rejects the example with the same exception type (agreement). A
    disagreement on accepting it fails the contract."""
    first, *others = impl.names
    answers = {first: impl.ask(first, kind="run", x=x, weights=weights, **request)}
    weights = answers[first].get("weights") if weights is None else weights
    for backend in others:
        answers[backend] = impl.ask(backend, kind="run", x=x, weights=weights, **request)
    raised = {b: a["raised"] for b, a in answers.items() if "raised" in a}
    if not raised:
        return answers
    kinds = {message.partition(":")[0] for message in raised.values()}
    accepted = [b for b in impl.names if b not in raised]
    require(not accepted and len(kinds) == 1,
            "the backends disagree on this example: " + "; ".join(f"{b} raised {m}" for b, m in raised.items())
            + (f"; {', '.join(accepted)} computed it" if accepted else ""))
    return {}


def _draw_weights(impl, data, x):
    """Weights for the layer on ``x``: drawn by the first backend's initializers from a drawn seed (so the
    example, weights included, replays from the hypothesis seed); ``None`` when the first backend rejects ``x``."""
    seed = data.draw(st.integers(0, 2**31 - 1), label="weights_seed")
    found = impl.ask(impl.names[0], kind="run", x=x, seed=seed)
    return found.get("weights")


def _twins(impl, x, weights, **request) -> dict:
    """``{backend: float64 answer}`` with the float32 ``weights`` widened, for the backends whose float64 layer
    returns float64 outputs; NotApplicable when there is none (no float64 form to bound the rounding by)."""
    twins = {}
    for backend in impl.names:
        found = impl.ask(backend, kind="run", x=x, dtype="float64", weights=[np.asarray(w, np.float64) for w in weights],
                         **request)
        if "raised" not in found and all(d == "float64" for d in found["dtypes"]):
            twins[backend] = found
    if not twins:
        raise NotApplicable(f"{impl.spec.label} has no float64 form on any of {', '.join(impl.names)} to bound the float32 rounding")
    return twins


def _allowance(pairs) -> float:
    """The float32 allowance between backends from ``pairs`` of (float32 result, float64 twin's result)
    of each backend with a float64 form (see generic._float32_allowance), plus FLOAT32_KERNEL_ULPS."""
    magnitude = _magnitude(*(b for _, b in pairs))
    return _float32_allowance(pairs) + FLOAT32_KERNEL_ULPS * float(np.spacing(np.float32(magnitude)))


def _require_close(what, found, allowance):
    """Every backend of ``found`` (``{backend: structure}``) gives the first's shapes and values within
    ``allowance``; a failure names every backend that differs."""
    (first, reference), *rest = found.items()
    problems = []
    for backend, value in rest:
        if structures.shapes(value) != structures.shapes(reference):
            problems.append(f"{backend} gives shapes {structures.shapes(value)}, {first} {structures.shapes(reference)}")
            continue
        mine, theirs = structures.vector(value), structures.vector(reference)
        gap = np.abs(mine - theirs)
        worst = int(np.argmax(gap)) if gap.size else 0
        if gap.size and not gap[worst] <= allowance:
            problems.append(f"{backend} and {first} differ by {gap[worst]:.3g} (entry {worst} of the flattened {what}: "
                            f"{mine[worst]!r} against {theirs[worst]!r})")
    require(not problems, f"{what}: " + "; ".join(problems) + f"; the float32 allowance is {allowance:.3g}, measured "
            "against each backend's float64 twin")


@contract(
    "AGREEMENT-OUTPUTS",
    level=MUST,
    statement="The same layer config with the same weights gives the same outputs on every backend, within the "
    "float32 rounding of the computation.",
    rationale="Keras 3's promise: a layer written once computes the same function on each backend, so a model "
    "trained on one backend serves on another. A padding, an interpolation or an epsilon placed differently on "
    "one backend breaks it silently.",
    given=DATA,
    requires=_on_backends,
)
def check_agreement_outputs(impl, data):
    """Build the layer on every backend with weights the first backend drew, call each on the same drawn
    input, and compare every pair of outputs within twice the largest float32-versus-float64 gap of any
    backend (each against its own float64 twin, same weights) plus 16 float32 ulps of the largest output."""
    compared = _outputs_everywhere(impl, data)
    if compared is not None:
        _, _, answers, allowance = compared
        _require_close("the outputs", {b: a["outputs"] for b, a in answers.items()}, allowance)


def _outputs_everywhere(impl, data):
    """``(x, weights, answers, allowance)``: a drawn example run on every backend with the same drawn weights,
    and the float32 allowance its float64 twins give; ``None`` when every backend rejects it the same way."""
    x = _draw_example(impl, data)
    weights = _draw_weights(impl, data, x)
    answers = _everywhere(impl, x, weights)
    if not answers:
        return None
    twins = _twins(impl, x, weights)
    return x, weights, answers, _allowance([(answers[b]["outputs"], twin["outputs"]) for b, twin in twins.items()])


@contract(
    "AGREEMENT-FLOAT64-OUTPUTS",
    level=MUST,
    statement="A float64 layer gives float64 outputs on every backend, equal within float64 rounding to the "
    "outputs of the backend that judges float64 (NumPy where it runs).",
    rationale="float64 is chosen for accuracy (scientific models, gradient checks); a backend that computes part "
    "of it in float32 (a matmul, a tanh) gives float32 accuracy under a float64 label, and only a comparison "
    "with another backend shows it.",
    given=DATA,
    requires=_on_backends,
)
def check_agreement_float64_outputs(impl, data):
    """Build the float64 layer on every backend with the same float64 weights; require float64 outputs and
    compare each with the judge's within 16 * 2^-29 of the float32 rounding gap of the judge's own
    float32 computation plus 64 float64 ulps of the largest output."""
    judge = impl.judge()
    if judge is None:
        raise NotApplicable("no backend computes float64 at float64 precision: "
                            + "; ".join(f"{b}: {why}" for b, why in impl.unable("float64").items()))
    x = _draw_example(impl, data)
    weights = _draw_weights(impl, data, x)
    answers32 = _everywhere(impl, x, weights)
    if not answers32:
        return
    answers = _everywhere(impl, x, [np.asarray(w, np.float64) for w in weights], dtype="float64")
    if not answers:
        raise NotApplicable(f"{impl.spec.label} has no float64 form on any backend")
    problems = [f"{backend} returns {found['dtypes']}" for backend, found in answers.items()
                if not all(d == "float64" for d in found["dtypes"])]
    reference = answers[judge]["outputs"]
    float32_gap = float(np.max(np.abs(structures.vector(answers32[judge]["outputs"]) - structures.vector(reference)), initial=0.0))
    magnitude = _magnitude(reference)
    allowance = FLOAT64_MARGIN * FLOAT64_OVER_FLOAT32 * float32_gap + FLOAT64_FLOOR_ULPS * float(np.spacing(magnitude))
    for backend, found in answers.items():
        gap = float(np.max(np.abs(structures.vector(found["outputs"]) - structures.vector(reference)), initial=0.0))
        if not gap <= allowance:
            problems.append(f"{backend}'s outputs differ from {judge}'s by {gap:.3g} (relative {gap / max(magnitude, 1e-300):.2g})")
    require(not problems, "the float64 layer: " + "; ".join(problems) + f" (float64 on {judge}; float64 rounding allows "
            f"{allowance:.3g}): part of the layer is computed at lower precision there")


@contract(
    "AGREEMENT-OUTPUT-SPEC",
    level=MUST,
    statement="Output shapes, output dtypes and compute_output_shape are the same on every backend.",
    rationale="Shapes and dtypes decide what the next layer accepts and what a saved model holds; a backend that "
    "pads or rounds a size differently (pooling with padding='same', strides over uneven sizes) changes them.",
    given=DATA,
    requires=_on_backends,
)
def check_agreement_output_spec(impl, data):
    """Call the layer on the same drawn input on every backend and compare the output shapes, the output
    dtypes and what compute_output_shape gives for the input shapes (or the exception type it raises)."""
    x = _draw_example(impl, data)
    answers = _everywhere(impl, x, _draw_weights(impl, data, x))
    if not answers:
        return
    (first, reference), *rest = answers.items()
    for backend, found in rest:
        for what, value, expected in (
            ("output shapes", structures.shapes(found["outputs"]), structures.shapes(reference["outputs"])),
            ("output dtypes", found["dtypes"], reference["dtypes"]),
            ("compute_output_shape", found["output_spec"], reference["output_spec"]),
        ):
            require(value == expected, f"{what} differ: {value} on {backend}, {expected} on {first}")


def _cotangent(answers, seed):
    outputs = next(iter(answers.values()))["outputs"]
    rng = np.random.default_rng(seed)
    return structures.map_leaves(lambda leaf: rng.uniform(-1, 1, np.shape(leaf)).astype(np.float32), outputs)


def _gradients(grads) -> list:
    """A vjp answer ``(grad_x, [grad_w...])`` as a list of arrays, a missing gradient as ``None``."""
    grad_x, grad_w = grads
    return list(structures.flatten(grad_x) if grad_x is not None else [None]) + list(grad_w)


@contract(
    "AGREEMENT-GRADIENTS",
    level=MUST,
    statement="With the same weights and inputs, the gradients with respect to the inputs and the weights agree "
    "across the backends that differentiate, within float32 rounding.",
    rationale="Each backend differentiates with its own machinery (a tape, jax.vjp, autograd) and its own kernels' "
    "gradients; a wrong custom gradient or a stop_gradient on one backend trains a different model there.",
    given={"data": st.data(), "cotangent_seed": st.integers(0, 2**32 - 1)},
    requires=_on_backends,
)
def check_agreement_gradients(impl, data, cotangent_seed):
    """Take the vector-Jacobian product of a drawn cotangent on every backend that differentiates; compare
    the gradients pairwise within twice the largest gap between a backend's float32 gradients and its
    float64 twin's, plus 16 float32 ulps. A missing gradient (None) agrees with an all-zero one."""
    differentiate = [b for b in impl.names if not impl.facts[b].get("gradients")]
    if len(differentiate) < 2:
        raise NotApplicable("fewer than two of the backends differentiate: "
                            + "; ".join(f"{b}: {why}" for b, why in impl.unable("gradients").items()))
    x = _draw_example(impl, data)
    weights = _draw_weights(impl, data, x)
    answers = _everywhere(impl, x, weights)
    if not answers:
        return
    cotangent = _cotangent(answers, cotangent_seed)
    grads = {}
    for backend in differentiate:
        found = impl.ask(backend, kind="run", x=x, weights=weights, cotangent=cotangent)
        require("raised" not in found, f"the gradient raised on {backend}: {found.get('raised')}")
        grads[backend] = _gradients(found["grads"])
    twins = _twins(impl, x, weights, cotangent=cotangent)
    pairs = [(g32, g64) for b, twin in twins.items() if b in grads and "grads" in twin
             for g32, g64 in zip(grads[b], _gradients(twin["grads"])) if g32 is not None and g64 is not None]
    if not pairs:
        raise NotApplicable("no backend gives float64 gradients to bound the float32 rounding of the gradients")
    allowance = _allowance(pairs)
    (first, reference), *rest = grads.items()
    for backend, found in rest:
        require(len(found) == len(reference), f"{backend} gives {len(found)} gradients, {first} {len(reference)}")
        for index, (mine, theirs) in enumerate(zip(found, reference)):
            mine, theirs = (np.zeros_like(theirs) if mine is None and theirs is not None else mine,
                            np.zeros_like(mine) if theirs is None and mine is not None else theirs)
            if mine is None:
                continue
            _require_close(f"gradient {index}", {first: theirs, backend: mine}, allowance)


@contract(
    "AGREEMENT-SAVED-FILE-LOADS-EVERYWHERE",
    level=MUST,
    statement="A model holding the layer, saved as a .keras file on one backend, loads on every other backend and "
    "gives the same outputs there, within float32 rounding.",
    rationale="The .keras format is Keras 3's way to move a model between backends (train on JAX, serve on "
    "TensorFlow); a weight stored in a backend-specific layout or a config that only one backend reads breaks it.",
    given=DATA,
    requires=_on_backends,
)
def check_agreement_saved_file_loads_everywhere(impl, data):
    """Save a model of the layer (drawn weights) on each backend in turn, load each file on every other
    backend, call it on the same drawn input, and compare with the saving backend's outputs within the
    allowance of AGREEMENT-OUTPUTS."""
    compared = _outputs_everywhere(impl, data)
    if compared is None:
        return
    x, weights, _, allowance = compared
    for source in impl.names:
        saved = impl.ask(source, kind="run", x=x, weights=weights, save=True)
        if "raised" in saved:
            raise NotApplicable(f"the model cannot be saved on {source} ({saved['raised']}); GENERIC-CONFIG-SERIALIZABLE says why")
        loaded = {source: saved["outputs"]}
        for backend in impl.names:
            if backend != source:
                found = impl.ask(backend, kind="load", x=x, file=saved["file"])
                require("raised" not in found, f"the .keras file saved on {source} does not load on {backend}: {found.get('raised')}")
                loaded[backend] = found["outputs"]
        _require_close(f"the outputs of the model saved on {source}", loaded, allowance)
