"""SGD, RMSprop and Adam with the exact update formulas of Keras 3.

Slot variables are created on the first `apply_gradients` (or `build`), and
`iterations` counts the applied steps.
"""
import tensorflow as tf


class Optimizer:
    """Base optimizer: `apply_gradients(zip(grads, variables))` updates the variables.

    Args:
        learning_rate: Positive float step size.
    """

    slot_names = ()

    def __init__(self, learning_rate):
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or learning_rate <= 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be a positive float, got {learning_rate!r}")
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
        self._learning_rate = tf.Variable(float(learning_rate), dtype=tf.float32, trainable=False,
                                          name="learning_rate")
        self._slots = {}  # variable.ref() -> {slot name: tf.Variable}

    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate.assign(value)

    @property
    def variables(self):
        """The optimizer state: iterations, learning rate, then the slots per variable."""
        return [self.iterations, self._learning_rate] + [s for slots in self._slots.values() for s in slots.values()]

    def build(self, variables):
        """Creates the slot variables (zeros shaped like each variable) once."""
        for variable in variables:
            if variable.ref() not in self._slots:
                with tf.init_scope():
                    self._slots[variable.ref()] = {
                        name: tf.Variable(tf.zeros_like(variable), trainable=False,
                                          name=f"{variable.name.split(':')[0]}/{name}")
                        for name in self.slot_names}

    def apply_gradients(self, grads_and_vars):
        """Applies one update step per `(gradient, variable)` pair; skips None gradients."""
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        self.build([v for _, v in pairs])
        for gradient, variable in pairs:
            learning_rate = tf.cast(self._learning_rate, variable.dtype)
            self.update_step(tf.cast(gradient, variable.dtype), variable, learning_rate, self._slots[variable.ref()])
        self.iterations.assign_add(1)
        return self.iterations

    def update_step(self, gradient, variable, learning_rate, slots):
        """Updates `variable` (and its `slots`, a dict of slot name to variable) for one `gradient`."""
        raise NotImplementedError


class SGD(Optimizer):
    """Gradient descent, optionally with (Nesterov) momentum.

    `m = momentum * m - lr * g; w += m` (Nesterov: `w += momentum * m - lr * g`);
    with `momentum=0` it is `w -= lr * g`.

    Args:
        learning_rate: Positive float, default 0.01.
        momentum: Float in [0, 1], default 0.
        nesterov: Whether to apply Nesterov momentum.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        super().__init__(learning_rate)
        if not 0 <= momentum <= 1:
            raise ValueError(f"SGD: momentum must be in [0, 1], got {momentum!r}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.slot_names = ("momentum",) if momentum else ()

    def update_step(self, gradient, variable, learning_rate, slots):
        if not self.momentum:
            variable.assign_sub(gradient * learning_rate)
            return
        m, momentum = slots["momentum"], tf.cast(self.momentum, variable.dtype)
        m.assign(m * momentum - gradient * learning_rate)
        variable.assign_add(m * momentum - gradient * learning_rate if self.nesterov else m)


class RMSprop(Optimizer):
    """Divides the gradient by a running root mean square of recent gradients.

    `v = rho * v + (1 - rho) * g**2; w -= lr * g / sqrt(v + epsilon)` (centered:
    the denominator subtracts the squared running mean gradient; momentum: the
    increment feeds a momentum slot).

    Args:
        learning_rate: Positive float, default 0.001.
        rho: Discount factor of the running mean square, default 0.9.
        momentum: Float >= 0, default 0.
        epsilon: Small constant added to the mean square, default 1e-7.
        centered: Whether to normalise by the variance instead of the mean square.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
        super().__init__(learning_rate)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered
        self.slot_names = ("velocity",) + ("momentum",) * (momentum > 0) + ("average_gradient",) * bool(centered)

    def update_step(self, gradient, variable, learning_rate, slots):
        velocity, rho = slots["velocity"], self.rho
        velocity.assign(rho * velocity + (1 - rho) * tf.square(gradient))
        denominator = velocity + self.epsilon
        if self.centered:
            average = slots["average_gradient"]
            average.assign(rho * average + (1 - rho) * gradient)
            denominator = velocity - tf.square(average) + self.epsilon
        increment = (learning_rate * gradient) / tf.sqrt(denominator)
        if self.momentum > 0:
            slots["momentum"].assign(self.momentum * slots["momentum"] + increment)
            increment = slots["momentum"]
        variable.assign_sub(increment)


class Adam(Optimizer):
    """Adaptive moment estimation with bias correction folded into the step size.

    `m += (g - m)(1 - beta_1); v += (g**2 - v)(1 - beta_2);`
    `w -= m * lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) / (sqrt(v) + epsilon)`.

    Args:
        learning_rate: Positive float, default 0.001.
        beta_1, beta_2: Decay rates of the first and second moment estimates, default 0.9 and 0.999.
        epsilon: Small constant added to `sqrt(v)`, default 1e-7.
        amsgrad: Whether to divide by the running maximum of `v` (AMSGrad).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
        super().__init__(learning_rate)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad
        self.slot_names = ("momentum", "velocity") + ("velocity_hat",) * bool(amsgrad)

    def update_step(self, gradient, variable, learning_rate, slots):
        step = tf.cast(self.iterations + 1, variable.dtype)
        beta_1_power = tf.pow(tf.cast(self.beta_1, variable.dtype), step)
        beta_2_power = tf.pow(tf.cast(self.beta_2, variable.dtype), step)
        alpha = learning_rate * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        m, v = slots["momentum"], slots["velocity"]
        m.assign_add((gradient - m) * (1 - self.beta_1))
        v.assign_add((tf.square(gradient) - v) * (1 - self.beta_2))
        if self.amsgrad:
            slots["velocity_hat"].assign(tf.maximum(slots["velocity_hat"], v))
            v = slots["velocity_hat"]
        variable.assign_sub((m * alpha) / (tf.sqrt(v) + self.epsilon))


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def get(identifier):
    """Returns a new optimizer for a name (case-insensitive, Keras defaults) or the instance.

    Raises:
        ValueError: `identifier` is a name that is not a known optimizer.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"Unknown optimizer: optimizer={identifier!r}; known: {sorted(_BY_NAME)} or an Optimizer instance")
