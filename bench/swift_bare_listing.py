"""The bare listing ``bench/orphans.py --swift`` compares ``scrubctl orphans`` with: one container listed
page by page (a marker, until an empty page), every name written out, with only the standard library.

    python bench/swift_bare_listing.py CONTAINER

The gateway comes from the environment: ``RGW_SWIFT_AUTH_URL``, ``RGW_SWIFT_USER``, ``RGW_SWIFT_KEY``.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
from urllib.parse import quote, urlsplit


def main(argv: list[str]) -> int:
    """List ``argv[0]`` to stdout, one name a line."""
    auth = urlsplit(os.environ["RGW_SWIFT_AUTH_URL"])
    connection = http.client.HTTPConnection(auth.hostname or "127.0.0.1", auth.port)
    headers = {"X-Auth-User": os.environ["RGW_SWIFT_USER"], "X-Auth-Key": os.environ["RGW_SWIFT_KEY"]}
    connection.request("GET", auth.path, headers=headers)
    answer = connection.getresponse()
    answer.read()
    storage, token = urlsplit(answer.getheader("X-Storage-Url") or ""), answer.getheader("X-Auth-Token") or ""
    marker, out = "", sys.stdout
    while True:
        target = f"{storage.path}/{quote(argv[0])}?format=json&limit=1000&marker={quote(marker, safe='')}"
        connection.request("GET", target, headers={"X-Auth-Token": token})
        answer = connection.getresponse()
        page = json.loads(answer.read() or b"[]")
        if not page:
            return 0
        out.write("".join(f"{item['name']}\n" for item in page))
        marker = page[-1]["name"]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
