"""The dense minibatch step: one update of all the parameters."""


class DenseStepper:
    """One update of all parameters per minibatch (dense ``X``)."""

    def __init__(self, objective, update_rule, state):
        self.objective = objective
        self.update_rule = update_rule
        self.state = state

    def step(self, X, y, sample_weight, weight_sum, lr):
        state = self.state
        value, grad = self.objective.params_gradient(
            state.params, X, y, sample_weight, weight_sum, center=state.center
        )
        if self.objective.fit_intercept:
            grad[-1] *= state.intercept_step
        self.update_rule.apply(state.params, grad, state.velocity, lr)
        return value

    def finish(self):
        """Bring every parameter up to date (nothing to do here)."""

