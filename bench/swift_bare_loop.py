"""The bare loop ``bench/scrub_swift.py`` measures scrubctl against, as a process of its own.

What glance_store's delete does per object, in N threads, and nothing else: HEAD; for a DLO, list
its segments (every page) and DELETE each; DELETE the object. Only the standard library and
swiftclient are imported, so that its start-up is what any such script pays. Prints the seconds
spent after authentication.

    python bench/swift_bare_loop.py NAMES_FILE CONCURRENCY CONTAINER

The gateway comes from the environment: ``RGW_SWIFT_AUTH_URL``, ``RGW_SWIFT_USER``, ``RGW_SWIFT_KEY``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import swiftclient


def main(argv: list[str]) -> int:
    """Erase the objects named in ``argv[0]`` in ``argv[1]`` threads; print the seconds it took."""
    names = Path(argv[0]).read_text(encoding="utf-8").split()
    concurrency, container = int(argv[1]), argv[2]
    storage_url, token = swiftclient.Connection(
        authurl=os.environ["RGW_SWIFT_AUTH_URL"],
        user=os.environ["RGW_SWIFT_USER"],
        key=os.environ["RGW_SWIFT_KEY"],
        auth_version="1",
        retries=0,
    ).get_auth()
    authenticated = time.monotonic()
    pending = iter(names)
    lock = threading.Lock()

    def worker() -> None:
        client = swiftclient.Connection(preauthurl=storage_url, preauthtoken=token, retries=0)
        while True:
            with lock:
                name = next(pending, None)
            if name is None:
                return
            headers = client.head_object(container, name)
            manifest = headers.get("x-object-manifest")
            if manifest:
                segments_container, _, prefix = manifest.partition("/")
                _headers, segments = client.get_container(segments_container, prefix=prefix, full_listing=True)
                for segment in segments:
                    client.delete_object(segments_container, segment["name"])
            client.delete_object(container, name)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"{time.monotonic() - authenticated:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
