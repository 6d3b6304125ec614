"""The discrete-event engine: neurons are SimPy processes, synapses channels (docs/semantics.md).

A neuron process reads like the protocol it runs:

    wait for signals until the firing rule holds,
    compute phi(W u + b) with the signals it has (missing ones are 0),
    send the value to every neuron of the next layer.

A message is a scheduled event (a Timeout carrying the value) whose callback
puts it in the receiver's inbox: no process per message. Failures are
already in the TrialPlan, as what each channel delivers and when.
"""

from __future__ import annotations

import numpy as np
import simpy

from neurosim.data.network import Network, preactivation
from neurosim.engines.outcome import TrialOutcome
from neurosim.engines.plan import FiringRule, TrialPlan

Array = np.ndarray


class Message(simpy.Event):
    """A signal on its way: processed `delay` from now, it calls the receiver's inbox.

    A Timeout with its one callback set at creation (a Timeout would take
    it by a second call): the engine creates one per message.
    """

    def __init__(self, env: simpy.Environment, delay: float, value: tuple,
                 deliver) -> None:
        self.env = env
        self.callbacks = [deliver]
        self._value = value
        self._ok = True
        env.schedule(self, simpy.events.NORMAL, delay)


class Decision(simpy.Event):
    """Triggered now, but processed after every other event of this instant that can matter.

    SimPy orders events by (time, priority, id); messages, timers and process
    steps have priority NORMAL (1). A neuron of layer l decides at priority
    1 + l: after every message landing now, including those sent now with a
    zero delay by layer l-1 neurons deciding at this same instant (a
    `timeout(0)` would run before those). The vectorised engine's semantics:
    a signal arriving at the firing time counts, ties go by sender index.
    """

    def __init__(self, env: simpy.Environment, layer: int) -> None:
        super().__init__(env)
        self._ok = True
        self._value = None
        env.schedule(self, simpy.events.NORMAL + layer)


class Inboxes:
    """The signals received by the neurons of one layer, and their firing-rule events."""

    def __init__(self, env: simpy.Environment, n: int, n_senders: int, k: int | None,
                 rule: FiringRule) -> None:
        self.env = env
        self.n_senders = n_senders
        self.got: list[list[tuple[float, int, float]]] = [[] for _ in range(n)]
        # The firing rule holds once `needed` signals are in (all of them but
        # for a quorum), or at the timeout.
        self.needed = n_senders if k is None else k
        self.k = k
        self.ready = [env.event() for _ in range(n)]
        self.timeout = rule.timeout
        self.timeout_from_first = rule.timeout is not None and not rule.timeout_from_start
        if rule.timeout is not None and rule.timeout_from_start:
            for j in range(n):
                self._start_timer(j)

    def _start_timer(self, j: int) -> None:
        self.env.timeout(self.timeout).callbacks.append(lambda _ev, j=j: self._rule_holds(j))

    def _rule_holds(self, j: int) -> None:
        if not self.ready[j].triggered:
            self.ready[j].succeed()

    def deliver(self, event: simpy.Event) -> None:
        """A message arrives: put it in the receiver's inbox and check its firing rule."""
        # _value and _now: the attributes behind .value and .now; this is the
        # engine's hottest line and the properties cost ~10% of a run.
        j, i, v = event._value
        got = self.got[j]
        got.append((self.env._now, i, v))
        if len(got) == self.needed:
            self._rule_holds(j)
        elif len(got) == 1 and self.timeout_from_first:
            self._start_timer(j)

    @property
    def received(self) -> int:
        return sum(len(g) for g in self.got)

    def used(self, j: int) -> tuple[Array, Array]:
        """What receiver j uses now: (used mask, values), shapes (N_{l-1},).

        The first k signals by (arrival, sender) for a quorum, else all arrived.
        """
        got = self.got[j]
        if self.k is not None and len(got) > self.k:
            got = sorted(got)[: self.k]
        used = np.zeros(self.n_senders, dtype=bool)
        values = np.zeros(self.n_senders)
        for _, i, v in got:
            used[i] = True
            values[i] = v
        return used, values


class Simulation:
    """One trial on SimPy: the environment, inboxes, and what was sent when."""

    def __init__(self, net: Network, plan: TrialPlan, rule: FiringRule) -> None:
        self.net, self.plan, self.rule = net, plan, rule
        self.env = simpy.Environment()
        sizes = net.sizes
        self.inboxes = [None] + [
            Inboxes(self.env, sizes[l], sizes[l - 1],
                    None if rule.quorum is None else rule.quorum[l - 1], rule)
            for l in range(1, len(sizes))
        ]
        self.fire_time = [np.full(n, np.inf) for n in sizes]
        self.output = [np.full(n, np.nan) for n in sizes]
        self.used = [np.zeros((sizes[l], sizes[l - 1]), dtype=bool) for l in range(1, len(sizes))]
        self.sent = self.lost = 0
        # Layers whose channels lose or replace messages; the others take a shorter path.
        self.faulty_channels = [bool(lost.any() or rep.any())
                                for lost, rep in zip(plan.lost, plan.replaced, strict=True)]

    def send(self, l: int, i: int, y: float) -> None:
        """Neuron i of layer l sends y on its synapses to layer l+1."""
        self.fire_time[l][i] = self.env.now
        self.output[l][i] = y
        if l == len(self.fire_time) - 1:
            return  # an output neuron: its value leaves the network
        plan, deliver, env = self.plan, self.inboxes[l + 1].deliver, self.env
        latency = plan.latency[l][:, i].tolist()
        self.sent += len(latency)
        if not self.faulty_channels[l]:
            for j, delay in enumerate(latency):
                Message(env, delay, (j, i, y), deliver)
            return
        lost, replaced = plan.lost[l][:, i].tolist(), plan.replaced[l][:, i].tolist()
        value = plan.value[l][:, i].tolist()
        for j, delay in enumerate(latency):
            if lost[j]:
                self.lost += 1
                continue
            v = value[j] if replaced[j] else y
            Message(env, delay, (j, i, v), deliver)

    def neuron(self, l: int, j: int):
        """The process of neuron j of layer l >= 1."""
        plan, rule, inbox = self.plan, self.rule, self.inboxes[l]
        crashed = plan.crashed[l][j]
        if crashed and plan.crash_time <= 0.0:
            return  # a crashed neuron sends nothing, ever
        yield inbox.ready[j]  # wait for signals until the firing rule holds
        yield Decision(self.env, l)  # signals landing at this same instant count; ties by sender
        used, values = inbox.used(j)
        if rule.processing:
            yield self.env.timeout(rule.processing)
        if crashed and self.env.now >= plan.crash_time:
            return  # crashed before it could send
        self.used[l - 1][j] = used
        s = preactivation(plan.weights[l - 1][j], values, self.net.biases[l - 1][j])
        y = self.net.phis[l - 1](np.array([s]))[0] if l <= self.net.depth else s
        self.send(l, j, float(y))

    def run(self) -> TrialOutcome:
        sizes = self.net.sizes
        for l in range(1, len(sizes)):
            for j in range(sizes[l]):
                self.env.process(self.neuron(l, j))
        for i, x in enumerate(self.plan.x):  # inputs send at time 0
            self.send(0, i, float(x))
        self.env.run(until=self.rule.horizon)
        received = sum(ib.received for ib in self.inboxes[1:])
        used = int(sum(u.sum() for u in self.used))
        msgs = dict(sent=self.sent, received=received, lost=self.lost,
                    in_flight=self.sent - self.lost - received, used=used,
                    wasted=received - used)
        return TrialOutcome(self.output[-1], self.fire_time, self.used, msgs)


def simulate_des(net: Network, plan: TrialPlan, rule: FiringRule) -> TrialOutcome:
    """Run one trial (see `TrialPlan`) as a discrete-event simulation."""
    return Simulation(net, plan, rule).run()

