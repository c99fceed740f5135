"""The ``swift`` deleter: erases the objects of Glance's Swift store (``swift``, ``swift+http``,
``swift+https``, ``swift+config``).

URLs are read as glance_store reads them: ``swift+config://REFERENCE/CONTAINER/OBJECT`` (credentials
in a section of the store's ``swift_store_config_file``), ``swift+http(s)://USER:KEY@AUTH/CONTAINER/OBJECT``
(credentials in the URL, percent-decoded, ``swift://`` meaning https), or, for multi-tenant stores,
``swift+https://HOST/v1/AUTH_<project>/CONTAINER/OBJECT`` with no credentials: such a location is
blocked with the reason unless the store's ``default_swift_reference`` can authenticate (its user must
be allowed into the owner's account). Only containers of the store are touched:
``swift_store_container`` (default ``glance``) and ``<container>_*`` (multiple containers, multi-tenant).
How credentials become a token is in :mod:`scrubctl.backends.swift.auth` (Keystone v3, or v1).

Erase, after a HEAD (a missing object is already gone):

* an SLO (``X-Static-Large-Object``): ``DELETE ?multipart-manifest=delete``, and the bulk-delete body
  is read, since Swift answers 200 even when it deleted nothing;
* a DLO (``X-Object-Manifest: container/prefix``): every segment is listed (pages requested with a
  marker until an empty one, not just the first 10,000 names) and deleted before the manifest, so a
  failure leaves the manifest for the next run to retry;
* a plain object: DELETE;
* a missing object whose numbered segments (``<object>-00001``...) are still listed, left by a lost
  manifest: those segments are deleted;
* then, for a multi-tenant location, the image's own container ``<container>_<id>``, as glance_store
  deletes it (one still holding objects is left; one the reference may not delete, with a warning).

Every call is bounded by ``scrubctl_store_timeout`` (30 s) with no retries; a store found unreachable
stays unreachable for the rest of the run. One authentication per store and credentials (renewed after
30 minutes); each worker thread keeps its own kept-alive HTTP connection, on which the object calls
are made straight through ``http.client`` (:mod:`scrubctl.backends.swift.objects`).
"""

from scrubctl.backends.swift.deleter import SwiftDeleter
from scrubctl.backends.swift.erasing import BINDINGS_HINT
from scrubctl.backends.swift.urls import SwiftUrl, parse_url

__all__ = ["BINDINGS_HINT", "SwiftDeleter", "SwiftUrl", "parse_url"]
