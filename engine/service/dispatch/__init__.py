"""Reminder dispatch: due reminders become deliveries, deliveries are sent exactly once.

Three steps, each safe to run in several processes at once (DESIGN.md §2, "Reminder dispatch"),
one module each: `sweep` turns due reminders into deliveries and outbox batches, `outbox`
publishes the batches after that commit, and `deliver` claims, sends and records each delivery.
The names callers use are importable from here.
"""

from engine.service.dispatch.deliver import DeliveryReport, Send, deliver, settle_reminders
from engine.service.dispatch.outbox import Publish, in_process, publish_outbox
from engine.service.dispatch.sweep import SweepReport, sweep_reminders

__all__ = [
    "DeliveryReport",
    "Publish",
    "Send",
    "SweepReport",
    "deliver",
    "in_process",
    "publish_outbox",
    "settle_reminders",
    "sweep_reminders",
]
