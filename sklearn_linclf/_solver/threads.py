"""How many threads the compiled kernels use.

The kernels' results do not depend on their thread count, so it is chosen for
speed alone: at most what OpenMP allows, and one thread when that has lately
been faster (:class:`ThreadChoice`).
"""

import math
import time

import joblib
import numpy as np

from . import _sparse_kernel


def openmp_threads():
    """OpenMP's thread setting, at most the CPUs this process may use.

    OpenMP's setting follows ``OMP_NUM_THREADS`` and
    ``threadpoolctl.threadpool_limits(..., user_api="openmp")``, as for
    scikit-learn's own OpenMP code, read at each call; joblib's count of
    usable CPUs accounts for affinity masks and container quotas, which
    OpenMP's default does not.
    """
    return max(1, min(_sparse_kernel.max_threads(), _usable_cpus()))


_CPUS = [0, -np.inf]  # joblib.cpu_count() and when it was read


def _usable_cpus(max_age=1.0):
    """``joblib.cpu_count()``, read again when over ``max_age`` seconds old.

    It reads the cgroup files: 0.2 ms, which was ~1 % of a short epoch
    when read at every one.
    """
    now = time.monotonic()
    if now - _CPUS[1] > max_age:
        _CPUS[:] = [joblib.cpu_count(), now]
    return _CPUS[0]


class ThreadChoice:
    """One thread or ``n``, whichever has lately run a kind of batch faster.

    The kernels' threads meet two or three times a batch. When other
    programs keep the cores busy, a thread often waits for a CPU at a
    meeting, and ``n`` threads can run many times slower than one (measured
    here: 5 to 20 times). The results do not depend on the number of
    threads, so it can follow the measured speed: the batches run in chunks
    of ``chunk``, each timed, with the faster choice so far; the other is
    tried again on ``probe_chunk`` batches now and then, after twice as many
    chunks each time it loses (up to ``max_wait``), but never after more
    chunks than it takes for its probes to cost ``probe_budget`` of the time
    at most: a choice that loses narrowly costs little to try and is tried
    again soon, where doubling alone, after a few narrow losses to noise,
    kept it out for up to ``max_wait`` chunks. When the faster one loses on
    its own chunks instead, the wait starts again from one chunk.

    Two things keep one disturbed timing from deciding. A change of thread
    count runs its first batch untimed: that is when OpenMP's idle threads
    are woken, and here a probe of ``n`` threads after a stretch on one took
    up to ten times a normal batch, so that ``n`` threads lost every probe
    and stayed locked out. And each choice counts as its best of its last
    ``window`` timings (noise only ever adds time), so it takes that many
    slow chunks in a row, not one, to switch.

    Parameters
    ----------
    n : int
        The most threads to use (> 1).
    clock : callable, default=time.perf_counter
        Seconds, for the timings.
    """

    chunk = 32
    probe_chunk = 4
    max_wait = 128
    margin = 0.9
    window = 2
    probe_budget = 0.02
    # Batch times that the two changes of thread count around a probe are
    # taken to cost (their first batches are not timed).
    switch_cost = 2.0

    def __init__(self, n, clock=time.perf_counter):
        self.n = n
        self.clock = clock
        self.recent = {}  # threads -> the last timings, seconds a batch
        self.wait = 1
        self.countdown = 0
        self.last = None  # the thread count of the last chunk run

    @property
    def per_batch(self):
        """Threads -> seconds a batch: the best of its last ``window`` timings."""
        return {threads: min(times) for threads, times in self.recent.items()}

    def best(self):
        """The number of threads that was faster (``n`` until both were timed).

        ``n`` threads count as faster when they took less than ``margin``
        times the time of one.
        """
        per_batch = self.per_batch
        if 1 not in per_batch:
            return self.n
        n_time = per_batch.get(self.n, np.inf)
        # More threads must win clearly: when they lose, they lose by far.
        return self.n if n_time < self.margin * per_batch[1] else 1

    def affordable_wait(self, loser):
        """The fewest chunks between probes of ``loser`` that keep their cost
        within ``probe_budget`` of the time (at least one).

        A probe costs ``probe_chunk`` batches at ``loser``'s speed instead of
        the faster one's, and the two changes of thread count around it.
        """
        per_batch = self.per_batch
        fastest = per_batch[self.best()]
        if not fastest > 0:  # a clock too coarse to tell
            return self.max_wait
        excess = max(per_batch[loser] / fastest - 1.0, 0.0)
        cost = self.probe_chunk * excess + self.switch_cost
        chunks = cost / (self.probe_budget * self.chunk)
        return max(1, min(self.max_wait, math.ceil(chunks)))

    def run(self, run, n_batches):
        """``run(lo, hi, threads)`` on chunks of ``range(n_batches)``, joined.

        Parameters
        ----------
        run : callable
            Runs batches ``lo:hi`` with ``threads`` threads and returns their
            losses.
        n_batches : int

        Returns
        -------
        ndarray
            The losses of all chunks, in order.
        """
        losses = []
        lo = 0
        while lo < n_batches:
            best = self.best()
            other = 1 if best == self.n else self.n
            probe = other not in self.recent or self.countdown <= 0
            threads = other if probe else best
            # A probe is short: on busy cores it may be very slow.
            hi = min(n_batches, lo + (self.probe_chunk if probe else self.chunk))
            if threads != self.last and hi - lo > 1:
                losses.append(run(lo, lo + 1, threads))  # the untimed first batch
                lo += 1
            self.last = threads
            start = self.clock()
            losses.append(run(lo, hi, threads))
            seconds = (self.clock() - start) / (hi - lo)
            first = threads not in self.recent
            recent = self.recent.setdefault(threads, [])
            recent.append(seconds)
            del recent[: -self.window]
            if probe or first:
                if self.best() == threads:
                    self.wait = 1
                else:
                    self.wait = min(2 * self.wait, self.affordable_wait(threads))
                self.countdown = self.wait
            elif self.best() != best:
                # The faster choice lost on its own chunks (the host got
                # busy, say): it is tried again soon, not after the long
                # wait that the other's lost probes had built up.
                self.wait = 1
                self.countdown = self.wait
            else:
                self.countdown -= 1
            lo = hi
        return np.concatenate(losses) if losses else np.zeros(0)


_CHOICES = {}


def thread_choice(key, most):
    """The :class:`ThreadChoice` for a kind of batch (``key``), kept between fits.

    A new one when ``most`` changed (the user's thread limit, say).
    """
    choice = _CHOICES.get(key)
    if choice is None or choice.n != most:
        if len(_CHOICES) >= 64:
            _CHOICES.clear()
        choice = _CHOICES[key] = ThreadChoice(most)
    return choice
