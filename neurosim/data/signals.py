"""What a receiver used in place of each signal: the three kinds of signal.

Every failure reaches a receiver j of layer l as one of three kinds of
signal from sender i of layer l-1:

- CORRECT: the value sent (it may carry an upstream deviation);
- MISSING: nothing, used as 0 (a crashed sender, a lost message, a signal
  the receiver stopped waiting for);
- CORRUPTED: a value in [-C, C] in place of the sent one (a Byzantine
  sender or synapse).

Engines report what each receiver used in these terms; the bounds take them.
"""

from __future__ import annotations

CORRECT, MISSING, CORRUPTED = 0, 1, 2
