#!/usr/bin/env python3
"""PoCNet alert hook: POST each alert as JSON to a webhook (chat, paging, ticketing).

Set in node.toml:  [alerts] hook = "/usr/bin/python3 /opt/pocnet/deploy/hooks/alert-webhook.py"

The node runs the hook once per alert with the alert as one JSON object on stdin (metadata
only unless alerts.include_content = true); it is forwarded unchanged. Settings, from the
environment:

  POCNET_WEBHOOK_URL         where to POST (required; https:// outside a test)
  POCNET_WEBHOOK_TOKEN_FILE  a file holding a bearer token (optional; never printed)
  POCNET_WEBHOOK_TIMEOUT     seconds (default 5)

The alert's stable ``id`` is also sent as the ``Idempotency-Key`` header, so the receiver
can de-duplicate. Exit 0 on a 2xx answer, 1 otherwise (the node logs alert.hook_failed).
Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request

MAX_INPUT = 1024 * 1024


def main() -> int:
    url = os.environ.get("POCNET_WEBHOOK_URL", "")
    if not url.startswith(("https://", "http://")):
        print("alert-webhook: set POCNET_WEBHOOK_URL (https://...)", file=sys.stderr)
        return 1
    body = sys.stdin.buffer.read(MAX_INPUT)
    try:
        alert = json.loads(body)
    except ValueError:
        print("alert-webhook: the alert on stdin is not JSON", file=sys.stderr)
        return 1
    headers = {"Content-Type": "application/json", "User-Agent": "pocnet-alert-webhook"}
    if isinstance(alert, dict) and alert.get("id"):
        headers["Idempotency-Key"] = " ".join(str(alert["id"]).split())[:200]
    token_file = os.environ.get("POCNET_WEBHOOK_TOKEN_FILE")
    if token_file:
        with open(token_file, encoding="utf-8") as fh:
            headers["Authorization"] = "Bearer " + fh.read().strip()
    # The scheme was checked above (http or https only).
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    timeout = float(os.environ.get("POCNET_WEBHOOK_TIMEOUT", "5"))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            ok = 200 <= resp.status < 300
    except (urllib.error.URLError, OSError) as e:
        print(f"alert-webhook: POST failed: {type(e).__name__}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
