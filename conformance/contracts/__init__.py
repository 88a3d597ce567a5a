"""One module per area; importing this package registers every contract."""

from conformance.contracts import (  # noqa: F401
    devices,
    gradients,
    lifecycle,
    numerics,
    sequential,
    shapes,
)
