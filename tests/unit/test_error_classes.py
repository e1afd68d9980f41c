"""The gateway's error bodies carry MLflow's `sqlstate`/`error_class` exactly as MLflow builds
them: compared with `MlflowException.serialize_as_json` (the test venv's MLflow 3.17.2 has the
same `mlflow/error_classification.py` as 3.18.0), for every code MLflow knows, and on the wire."""

from __future__ import annotations

import json

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import ErrorCode

from gateway.error_classes import classification
from gateway.http.errors import error_json


@pytest.mark.parametrize("code", ErrorCode.keys())
def test_each_code_gets_mlflows_fields(code):
    mlflow_body = json.loads(
        MlflowException("m", error_code=ErrorCode.Value(code)).serialize_as_json()
    )
    assert classification(code) == {
        k: v for k, v in mlflow_body.items() if k not in ("error_code", "message")
    }


def test_error_json_adds_them_and_extra_fields_win():
    plain = json.loads(error_json(404, "RESOURCE_DOES_NOT_EXIST", "gone").text)
    assert plain == {
        "error_code": "RESOURCE_DOES_NOT_EXIST",
        "message": "gone",
        "sqlstate": "KAM00",
        "error_class": "RESOURCE_NOT_FOUND",
    }
    assert json.loads(error_json(401, "UNAUTHENTICATED", "who").text) == {
        "error_code": "UNAUTHENTICATED",
        "message": "who",
    }
    extra = json.loads(error_json(403, "PERMISSION_DENIED", "no", {"sqlstate": "X"}).text)
    assert extra["sqlstate"] == "X" and extra["error_class"] == "PERMISSION_DENIED"
