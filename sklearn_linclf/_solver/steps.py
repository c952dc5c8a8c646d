"""Step-size rules: schedules that map the update count to a step size."""


class ConstantSchedule:
    """``eta = eta0`` for every update."""

    decays_on_plateau = False

    def __init__(self, eta0):
        self.eta0 = eta0

    def __call__(self, t, n_decays):
        return self.eta0


class InvScalingSchedule:
    """``eta = eta0 / (t + 1) ** power_t`` with ``t`` the number of updates."""

    decays_on_plateau = False

    def __init__(self, eta0, power_t=0.5):
        self.eta0 = eta0
        self.power_t = power_t

    def __call__(self, t, n_decays):
        return self.eta0 / (t + 1) ** self.power_t


class AdaptiveSchedule:
    """``eta = eta0 / factor ** n_decays``.

    The solver increments ``n_decays`` each time the monitored objective stops
    improving; after ``max_decays`` such plateaus it stops instead.
    """

    decays_on_plateau = True

    def __init__(self, eta0, factor=5.0, max_decays=5):
        self.eta0 = eta0
        self.factor = factor
        self.max_decays = max_decays

    def __call__(self, t, n_decays):
        return self.eta0 / self.factor**n_decays


def make_schedule(name, eta0, power_t=0.5):
    if name == "constant":
        return ConstantSchedule(eta0)
    if name == "invscaling":
        return InvScalingSchedule(eta0, power_t)
    if name == "adaptive":
        return AdaptiveSchedule(eta0)
    raise ValueError(f"Unknown learning_rate schedule {name!r}.")

