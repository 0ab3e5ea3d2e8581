"""Planflow: a workflow and approval engine for annual work plans.

`engine.core` is the pure heart (templates, guards, planning, calendar, errors) and imports no
database, broker or scheduler. `engine.store` holds the tables, `engine.service` the use cases
(the only place that commits), and `engine.cli` / `engine.api` are thin edges over the service.
"""
