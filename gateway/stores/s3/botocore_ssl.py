"""Imported before botocore (first in this package): botocore.httpsession imports
urllib3.contrib.pyopenssl only to take back the standard library's SSLContext that module
saved, and so loads pyOpenSSL and cryptography wherever pyOpenSSL is installed (the test extra
has it, for pyftpdlib's FTPS): 8 MiB of idle RSS for nothing. Without that module, botocore
imports the same class from urllib3.util.ssl_."""

from __future__ import annotations

import sys

sys.modules.setdefault("urllib3.contrib.pyopenssl", None)  # type: ignore[arg-type]
