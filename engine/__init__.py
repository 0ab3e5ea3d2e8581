"""Planflow: a workflow and approval engine for annual work plans.

`engine.core` is the pure heart (templates, guards, planning, calendar, errors, messages) and
imports no database, broker or scheduler. `engine.store` is the one typed boundary around the
database, `engine.service` the use cases (the only place that commits), and `engine.cli` and
`engine.http` are thin edges over the service; `engine.demo` drives the service through a
simulated year for `planflow demo` and `planflow simulate`.
"""
