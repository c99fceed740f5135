"""Location URLs encrypted with Glance's ``metadata_encryption_key``.

Glance stores URL-safe base64 of a 16-byte IV followed by AES-CBC ciphertext. The key is the UTF-8
bytes of the option (16, 24 or 32 bytes). The plaintext is followed by one NUL byte and random
non-zero padding up to the block size, so the URL is everything before the last NUL.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets as random_source

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from scrubctl.settings.encryption_key import check_key

BLOCK_SIZE = 16


class UndecryptableError(Exception):
    """A stored location value could not be turned back into a URL."""


def looks_like_url(value: str) -> bool:
    """Tell whether a stored value is a plaintext URL (base64 ciphertext never holds ``://``)."""
    return "://" in value


def encrypt_url(key: str, url: str) -> str:
    """Encrypt ``url`` exactly as Glance does (used by the sandbox and by tests)."""
    plaintext = url.encode("utf-8")
    pad_length = BLOCK_SIZE - len(plaintext) % BLOCK_SIZE
    padding = bytes(random_source.randbelow(255) + 1 for _ in range(pad_length - 1))
    iv = os.urandom(BLOCK_SIZE)
    encryptor = Cipher(algorithms.AES(check_key(key)), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(plaintext + b"\0" + padding) + encryptor.finalize()
    return base64.urlsafe_b64encode(iv + ciphertext).decode("ascii")


def decrypt_url(key: str, stored: str) -> str:
    """Return the URL Glance encrypted into ``stored``; raise :class:`UndecryptableError`."""
    try:
        raw = base64.urlsafe_b64decode(stored.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise UndecryptableError("not base64 ciphertext") from None
    if len(raw) < 2 * BLOCK_SIZE or len(raw) % BLOCK_SIZE:
        raise UndecryptableError("ciphertext has the wrong length")
    decryptor = Cipher(algorithms.AES(check_key(key)), modes.CBC(raw[:BLOCK_SIZE])).decryptor()
    padded = decryptor.update(raw[BLOCK_SIZE:]) + decryptor.finalize()
    end = padded.rfind(b"\0")
    if end < 0:
        raise UndecryptableError("wrong key (no delimiter after decryption)")
    try:
        url = padded[:end].decode("utf-8")
    except UnicodeDecodeError:
        raise UndecryptableError("wrong key (decrypted bytes are not text)") from None
    if not looks_like_url(url) or not url.isprintable():
        raise UndecryptableError("wrong key (decrypted text is not a URL)")
    return url
