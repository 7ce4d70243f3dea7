"""Schemathesis against the OpenAPI schema: answers are documented and never a 5xx."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import FixedClock, new_key

_CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


@pytest.mark.slow
def test_answers_match_the_schema(app: FastAPI) -> None:
    """Generated requests for every operation (valid key) get documented statuses and bodies, never a 5xx."""
    auth = {"Authorization": f"Bearer {new_key(app, 'acme')}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers=auth)
            assert response.status_code < 500, f"{case.method} {case.path}: {response.text}"
            case.validate_response(response, checks=_CHECKS)

        check()


@pytest.fixture
def booking_client(app: FastAPI) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A client and an operator key."""
    with TestClient(app) as client:
        yield client, {"Authorization": f"Bearer {new_key(app, 'acme')}"}


_place = st.one_of(
    st.builds(lambda i: {"stop_id": f"s{i:02d}"}, st.integers(0, 9)),
    st.builds(
        lambda x, y: {"lon": 135.48 + x, "lat": 34.51 + y},
        st.floats(-0.02, 0.02, allow_nan=False),
        st.floats(-0.02, 0.02, allow_nan=False),
    ),
)
_offset = st.one_of(st.none(), st.integers(-7200, 40_000))


@given(
    pickup=_place,
    dropoff=_place,
    passengers=st.integers(-1, 6),
    wheelchair=st.booleans(),
    earliest=_offset,
    latest=_offset,
)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_generated_bookings_are_answered_or_refused_cleanly(
    booking_client: tuple[TestClient, dict[str, str]],
    clock: FixedClock,
    pickup: dict[str, Any],
    dropoff: dict[str, Any],
    passengers: int,
    wheelchair: bool,
    earliest: int | None,
    latest: int | None,
) -> None:
    """Near-valid bookings get 201 or 422, never 5xx; an assignment keeps the requested times."""
    client, auth = booking_client
    body: dict[str, Any] = {
        "pickup": pickup,
        "dropoff": dropoff,
        "passengers": passengers,
        "wheelchair": wheelchair,
    }
    if earliest is not None:
        body["earliest_pickup"] = (clock.now + dt.timedelta(seconds=earliest)).isoformat()
    if latest is not None:
        body["latest_dropoff"] = (clock.now + dt.timedelta(seconds=latest)).isoformat()
    r = client.post("/v1/ride-requests", headers=auth, json=body)
    assert r.status_code in (201, 422), r.text
    if r.status_code == 422:
        assert r.json()["detail"]
        return
    out = r.json()
    assert out["status"] in ("assigned", "refused")
    if out["status"] == "assigned":
        start = dt.datetime.fromisoformat(out["pickup_window"]["start"])
        eta = dt.datetime.fromisoformat(out["dropoff_eta"])
        assert start >= clock.now
        if earliest is not None:
            assert start >= clock.now + dt.timedelta(seconds=earliest) - dt.timedelta(seconds=1)
        if latest is not None:
            assert eta <= clock.now + dt.timedelta(seconds=latest)
    else:
        assert out["reason"]
