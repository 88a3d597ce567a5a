"""Layers that misbehave in ways that are not one contract's violation: they hang, they cannot be
built, they cannot be constructed the way the kit constructs them. The kit must turn each into one
clear verdict (a timeout, one failure with blocked cells, a usage error), never a flood or a hang."""

from __future__ import annotations

import functools
import os
import signal
import time

from examples.book.simple_dense import SimpleDense


class CallNeverReturns(SimpleDense):
    """call() loops forever."""

    def call(self, inputs):
        while True:
            time.sleep(0.01)


class BuildRaises(SimpleDense):
    """build() raises, so nothing that calls or builds the layer can work."""

    def build(self, input_shape):
        raise RuntimeError("this layer's build is broken")


class NeedsKernelSize(SimpleDense):
    """Its constructor needs an argument the Dense contracts do not pass."""

    def __init__(self, units, kernel_size, activation=None):
        super().__init__(units, activation)
        self.kernel_size = kernel_size


# A functools.partial is a fine layer factory: it has no __name__, which the kit must not need.
PartialSimpleDense = functools.partial(SimpleDense)


class NeverMarkedBuilt(SimpleDense):
    """`built` stays False whatever build() does, as in a framework whose explicit build() forgets to set
    it: Keras then rebuilds on every call, so the layer collects a new kernel and bias each time."""

    @property
    def built(self):
        return False

    @built.setter
    def built(self, value):
        pass


class AbortsOnRank3Input(SimpleDense):
    """call() on a rank-3 input kills its own process with SIGABRT, as a crashing native kernel does;
    on any other input it is the book's SimpleDense."""

    def call(self, inputs):
        if len(inputs.shape) == 3:
            os.abort()
        return super().call(inputs)


class AbortsOnceOnRank3Input(SimpleDense):
    """call() on a rank-3 input kills its process with SIGABRT the first time only: it leaves the file named by
    the UNRULY_CRASH_FLAG environment variable, then computes as the book's SimpleDense. A crash that does not
    come back in a fresh process, as one brought on by what earlier cells left in a long-lived worker."""

    def call(self, inputs):
        flag = os.environ["UNRULY_CRASH_FLAG"]
        if len(inputs.shape) == 3 and not os.path.exists(flag):
            open(flag, "w").close()
            os.abort()
        return super().call(inputs)


class CallIgnoresTheTimeLimit(SimpleDense):
    """call() ignores SIGALRM, then never returns: the kit's per-cell alarm cannot stop it, as it cannot
    stop a framework kernel stuck in native code."""

    def call(self, inputs):
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        while True:
            time.sleep(0.01)
