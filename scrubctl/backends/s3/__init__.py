"""The ``s3`` deleter: erases the objects of Glance's S3 store (``s3``, ``s3+http``, ``s3+https``).

URLs are read as glance_store writes them: ``s3://ACCESS:SECRET@HOST/BUCKET/KEY`` up to glance_store
5.5 (keys unquoted, a ``/`` or ``+`` in the secret included) and ``s3://HOST/BUCKET/KEY`` from 5.6.
A URL that carries keys is used with them; one without, with the store's ``s3_store_access_key`` and
``s3_store_secret_key``. The keys never appear in a message.

The endpoint is always the store's ``s3_store_host`` (never the URL's host), with
``s3_store_region_name``, ``s3_store_bucket_url_format`` (auto, virtual, path) and ``s3_store_cacert``
as Glance configures them. Unlike glance_store, a URL whose host is not ``s3_store_host`` is refused:
its bucket and key name an object of another service, and erasing the same name here would erase
something else.

Erase: HEAD the object (S3 answers success to a DELETE of a missing key, so only the HEAD tells
"already gone"), DELETE it, then abort the incomplete multipart uploads of exactly that key, which
glance_store leaves behind forever. Every call is bounded by ``scrubctl_store_timeout`` (30 s) with
no retries; a store found unreachable stays unreachable for the rest of the run. One boto3 client per
store and key pair for the run, shared by the worker threads.
"""

from scrubctl.backends.s3.deleter import S3Deleter
from scrubctl.backends.s3.erasing import BINDINGS_HINT
from scrubctl.backends.s3.urls import S3Url, parse_url

__all__ = ["BINDINGS_HINT", "S3Deleter", "S3Url", "parse_url"]
