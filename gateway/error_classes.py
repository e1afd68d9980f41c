"""MLflow 3.18's `error_class` and `sqlstate` for an error code, as its server sends them.

`MlflowException` derives both from `error_code` (`mlflow/error_classification.py`, the client
tables, which its server uses too) and every JSON error of `mlflow server` carries them; a code
missing here (UNAUTHENTICATED, RESOURCE_EXHAUSTED, NOT_IMPLEMENTED, ...) gets neither.
"""

from __future__ import annotations

_INVALID, _INTERNAL = "KAM00", "XXM00"
# error_code -> (error_class, sqlstate)
CLASSES: dict[str, tuple[str, str]] = {
    "BAD_REQUEST": ("INVALID_PARAMETER_VALUE", _INVALID),
    "CUSTOMER_UNAUTHORIZED": ("PERMISSION_DENIED", _INVALID),
    "ENDPOINT_NOT_FOUND": ("RESOURCE_NOT_FOUND", _INVALID),
    "FEATURE_DISABLED": ("FEATURE_DISABLED", _INVALID),
    "INTERNAL_ERROR": ("CLIENT_INTERNAL_ERROR", _INTERNAL),
    "INVALID_PARAMETER_VALUE": ("INVALID_PARAMETER_VALUE", _INVALID),
    "INVALID_STATE": ("CLIENT_INTERNAL_ERROR", _INTERNAL),
    "NOT_FOUND": ("RESOURCE_NOT_FOUND", _INVALID),
    "PERMISSION_DENIED": ("PERMISSION_DENIED", _INVALID),
    "RESOURCE_ALREADY_EXISTS": ("RESOURCE_ALREADY_EXISTS", _INVALID),
    "RESOURCE_DOES_NOT_EXIST": ("RESOURCE_NOT_FOUND", _INVALID),
    "TEMPORARILY_UNAVAILABLE": ("CLIENT_INTERNAL_ERROR", _INTERNAL),
}


def classification(error_code: str) -> dict[str, str]:
    """The fields MLflow 3.18 puts beside `error_code` and `message` (none for other codes)."""
    if (found := CLASSES.get(error_code)) is None:
        return {}
    error_class, sqlstate = found
    return {"sqlstate": sqlstate, "error_class": error_class}
