"""Download headers as MLflow sends them: type from the file name, always an attachment."""

from __future__ import annotations

import mimetypes
import posixpath
import unicodedata
import urllib.parse

# MLflow serves these as text/plain (mlflow/utils/mime_type_utils.py), extension-less MLmodel
# and `mlproject` (MLflow's MLPROJECT_FILE_NAME) included. `MLproject`, the name projects use,
# is text here too, where MLflow's case-sensitive list answers application/octet-stream.
_TEXT_EXTENSIONS = frozenset(
    {
        *("txt", "log", "err", "cfg", "conf", "cnf", "cf", "ini", "properties", "prop"),
        *("hocon", "toml", "yaml", "yml", "xml", "json", "js", "py", "py3", "csv", "tsv"),
        *("md", "rst", "ipynb", "MLmodel", "mlproject", "MLproject"),
    }
)
_TOKEN_SAFE = "!#$&+-.^_`|~"


def content_type(path: str) -> str:
    name = posixpath.basename(path)
    extension = posixpath.splitext(name)[1].lstrip(".") or name
    if extension in _TEXT_EXTENSIONS:
        return "text/plain"
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def content_disposition(path: str) -> str:
    """RFC 6266 attachment; non-ASCII names get an ASCII fallback plus `filename*`."""
    name = posixpath.basename(path)
    try:
        name.encode("ascii")
    except UnicodeEncodeError:
        fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
        quoted = urllib.parse.quote(name, safe=_TOKEN_SAFE)
        return f"attachment; filename={_quote(fallback or 'download')}; filename*=UTF-8''{quoted}"
    return f"attachment; filename={_quote(name)}"


def _quote(value: str) -> str:
    if value and all(ch.isalnum() or ch in _TOKEN_SAFE for ch in value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
