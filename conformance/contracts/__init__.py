"""One module per area; importing this package registers every contract."""

from conformance.contracts import (  # noqa: F401
    agreement,
    compile,
    distribution,
    errors,
    generic,
    gradients,
    lifecycle,
    numerics,
    sequential,
    shapes,
    training,
    validation,
)
