"""Every domain error is a class of its own, and answers with the problem it always did.

The table, error_wire.json, is the wire contract as it stood when the errors were made by a
factory: the problem type, status and title each class sends. A class added later must be
added there."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dispute_backend import errors, problems

# name: [problem type slug, status, title]
WIRE = [
    (name, *row)
    for name, row in json.loads(Path(__file__).with_name("error_wire.json").read_text()).items()
]


def _domain_errors() -> dict[str, type[errors.DomainError]]:
    return {
        name: cls
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.DomainError) and cls is not errors.DomainError
    }


def test_every_error_class_is_in_the_table() -> None:
    assert sorted(_domain_errors()) == sorted(name for name, *_ in WIRE)


def test_each_class_is_declared_in_the_module_under_its_own_name() -> None:
    for name, cls in _domain_errors().items():
        assert cls.__name__ == name
        assert cls.__module__ == errors.__name__


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    problems.install(app)

    @app.get("/raise/{name}")
    async def _raise(name: str) -> None:
        raise getattr(errors, name)()

    return TestClient(app)


@pytest.mark.parametrize(("name", "slug", "status", "title"), WIRE)
def test_problem_body_is_unchanged(
    client: TestClient, name: str, slug: str, status: int, title: str
) -> None:
    response = client.get(f"/raise/{name}")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": f"https://disputes.example/problems/{slug}",
        "title": title,
        "status": status,
        "detail": title,
        "instance": f"/raise/{name}",
    }
