"""The core of each mutating operation: read real state, refuse what is unsafe, build a plan.

One module per operation. Each exposes a ``plan_*`` function returning a
:class:`~mr_failover.engine.plan.Plan` whose steps carry their actions; the shared flow in
``commands/_mutation.py`` shows, confirms, guards, locks, executes and journals it.
"""
