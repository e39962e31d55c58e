"""``make bench``: how fast a waiter learns of its process's finish, how the local stack holds up
under load, and how heavy a cold start is. See ``docs/PERFORMANCE.md``.

Benchmarks report; they do not assert. Each module measures one thing:

* :mod:`bench.wake_latency` (with :mod:`bench.wake_harness`): wake latency and reads per wait of
  every wake strategy, per backend;
* :mod:`bench.end_to_end` (with :mod:`bench.clients`): the local stack over HTTP, one request at a
  time and under 50 concurrent clients;
* :mod:`bench.cold_start`: the functions' import times and the layer's size;
* :mod:`bench.targets` and :mod:`bench.report`: the targets, and the table that marks them.
"""
