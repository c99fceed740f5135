from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from scrubctl.errors import ConfigError
from scrubctl.glance.encryption import UndecryptableError, decrypt_url, encrypt_url

KEY = "0123456789abcdef0123456789abcdef"


def glance_ciphertext(key: str, url: str, padding_byte: int = 0x41) -> str:
    """Build a value the way Glance's urlsafe_encrypt lays it out: IV, then AES-CBC of
    text + NUL + non-zero padding, URL-safe base64."""
    text = url.encode()
    pad_length = 16 - len(text) % 16
    padded = text + b"\0" + bytes([padding_byte]) * (pad_length - 1)
    iv = os.urandom(16)
    encryptor = Cipher(algorithms.AES(key.encode()), modes.CBC(iv)).encryptor()
    return base64.urlsafe_b64encode(iv + encryptor.update(padded) + encryptor.finalize()).decode()


@pytest.mark.parametrize("length", [16, 24, 32])
@pytest.mark.parametrize(
    "url", ["file:///var/lib/glance/images/x", "rbd://fsid/images/" + "a" * 36 + "/snap", "s" * 47 + "://"]
)
def test_decrypts_glance_values(length: int, url: str) -> None:
    key = KEY[:length]
    assert decrypt_url(key, glance_ciphertext(key, url)) == url
    assert decrypt_url(key, encrypt_url(key, url)) == url


def test_each_encryption_uses_a_fresh_iv() -> None:
    assert encrypt_url(KEY, "file:///a") != encrypt_url(KEY, "file:///a")


def test_wrong_key_and_garbage_are_undecryptable() -> None:
    value = glance_ciphertext(KEY, "file:///var/lib/glance/images/abc")
    with pytest.raises(UndecryptableError):
        decrypt_url("f" * 32, value)
    with pytest.raises(UndecryptableError):
        decrypt_url(KEY, "not-base64!!")
    with pytest.raises(UndecryptableError):
        decrypt_url(KEY, base64.urlsafe_b64encode(b"short").decode())


def test_key_length_is_checked() -> None:
    with pytest.raises(ConfigError, match="16, 24 or 32 bytes"):
        decrypt_url("short", glance_ciphertext(KEY, "file:///x"))
