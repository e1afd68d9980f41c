"""A real `mlflow server --app-name basic-auth`, and its users, roles and grants made through
its own REST API (mlflow/server/auth/routes.py), as an operator would make them.

The auth app needs a configuration file (`MLFLOW_AUTH_CONFIG_PATH`: its database, the first
admin, `default_permission`) and a Flask secret key; both are written per server here.
"""

from __future__ import annotations

import base64
import concurrent.futures
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import requests

from tests.helpers.upstreams import Server, start_mlflow_server

ADMIN = "admin"
ADMIN_PASSWORD = "admin-pass-4e9d2c7b1a"
T = TypeVar("T")
R = TypeVar("R")


def basic_header(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


def start_auth_server(
    python: Path,
    workdir: Path,
    *extra: str,
    default_permission: str = "READ",
    artifacts_destination: str | None = None,
) -> Server:
    """`mlflow server --app-name basic-auth` of `python` on sqlite, with `extra` flags;
    `--no-serve-artifacts` unless `artifacts_destination` is given."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir.parent / f"{workdir.name}-auth.ini"
    config.write_text(
        "[mlflow]\n"
        f"default_permission = {default_permission}\n"
        f"database_uri = sqlite:///{workdir.parent / (workdir.name + '-auth.db')}\n"
        f"admin_username = {ADMIN}\n"
        f"admin_password = {ADMIN_PASSWORD}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # One PBKDF2 per user and password instead of one per request: the table stays seconds.
        "auth_cache_ttl_seconds = 300\n"
    )
    return start_mlflow_server(
        python,
        workdir,
        "mlflow-artifacts:/",  # clients send artifacts to their tracking URI: the gateway
        "--app-name",
        "basic-auth",
        *extra,
        artifacts_destination=artifacts_destination,
        MLFLOW_AUTH_CONFIG_PATH=str(config),
        MLFLOW_FLASK_SERVER_SECRET_KEY="tests-only-flask-secret-key",
    )


@dataclass
class AuthAdmin:
    """The admin's REST calls; each raises on anything but 200 (201 for a new workspace)."""

    url: str
    session: requests.Session

    @classmethod
    def of(cls, server: Server) -> AuthAdmin:
        session = requests.Session()
        session.headers.update(basic_header(ADMIN, ADMIN_PASSWORD))
        return cls(server.url, session)

    def call(self, method: str, path: str, body: dict, workspace: str | None = None) -> dict:
        headers = {"X-MLFLOW-WORKSPACE": workspace} if workspace else {}
        url = f"{self.url}{path}"
        if method == "GET":
            response = self.session.get(url, params=body, headers=headers, timeout=60)
        else:
            response = self.session.request(method, url, json=body, headers=headers, timeout=60)
        assert response.status_code in (200, 201), (path, body, response.status_code, response.text)
        return response.json() if response.content else {}

    def create_user(self, name: str, password: str) -> None:
        self.call("POST", "/api/2.0/mlflow/users/create", {"username": name, "password": password})

    def make_admin(self, name: str) -> None:
        body = {"username": name, "is_admin": True}
        self.call("PATCH", "/api/2.0/mlflow/users/update-admin", body)

    def create_experiment(self, name: str, workspace: str | None = None) -> str:
        body = {"name": name}
        path = "/api/2.0/mlflow/experiments/create"
        return self.call("POST", path, body, workspace)["experiment_id"]

    def grant(self, user: str, resource_type: str, resource_id: str, permission: str) -> None:
        body = {"username": user, "resource_type": resource_type, "resource_id": resource_id}
        self.call(
            "POST", "/api/3.0/mlflow/users/permissions/grant", {**body, "permission": permission}
        )

    def revoke(self, user: str, resource_type: str, resource_id: str) -> None:
        body = {"username": user, "resource_type": resource_type, "resource_id": resource_id}
        self.call("POST", "/api/3.0/mlflow/users/permissions/revoke", body)

    def role(
        self,
        name: str,
        grants: Iterable[tuple[str, str, str]],
        members: Iterable[str],
        workspace: str = "default",
    ) -> None:
        """A role in `workspace` with (resource_type, pattern, permission) grants."""
        body = {"name": name, "workspace": workspace}
        role_id = self.call("POST", "/api/3.0/mlflow/roles/create", body)["role"]["id"]
        for resource_type, pattern, permission in grants:
            grant = {"resource_type": resource_type, "resource_pattern": pattern}
            grant |= {"role_id": role_id, "permission": permission}
            self.call("POST", "/api/3.0/mlflow/roles/permissions/add", grant)
        for member in members:
            self.call(
                "POST", "/api/3.0/mlflow/roles/assign", {"username": member, "role_id": role_id}
            )


def in_parallel(work: Callable[[T], R], items: Iterable[T], threads: int = 16) -> list[R]:
    """`work` over `items` on a few threads (each table cell is an independent request)."""
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(work, items))
