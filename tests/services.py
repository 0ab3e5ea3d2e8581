"""Access to the real services on localhost (PostgreSQL, Redis) for integration tests.

Under `CI=true` a missing service fails the test; elsewhere it skips with a message saying how to
start the service.
"""

from __future__ import annotations

import os

import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "PLANFLOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def unavailable(service: str, why: str) -> None:
    message = f"{service} is not reachable on localhost ({why})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI needs it", pytrace=False)
    pytest.skip(f"{message}; start it to run this test")
