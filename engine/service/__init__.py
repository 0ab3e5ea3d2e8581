"""Use cases: the only code that opens transactions and commits.

Each public function takes the `Runtime` first and keyword arguments after, runs in one
transaction, and raises only `engine.core.errors.PlanflowError`s for anything a user caused.
"""
