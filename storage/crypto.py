"""Optional encryption of vault objects at rest: chunked AES-256-GCM.

Enabled when a 32-byte key is configured (env DUALREC_VAULT_KEY: 64 hex digits, or
DUALREC_VAULT_KEY_FILE: a file holding them). Needs the `cryptography` package.

Format of an encrypted object::

    b"DRVAULT1" | key id (8 bytes) | nonce prefix (8 random bytes)
    then chunks: ciphertext length (4 bytes, big-endian) | final flag (1 byte) |
                 AES-GCM ciphertext+tag (1 MiB of plaintext each, the last at most that)

Chunk i is encrypted with nonce = prefix + i (4 bytes) and associated data =
plaintext sha256 (the object's address) + i + a final-chunk flag, so chunks cannot be
swapped between objects, reordered or dropped (the last chunk must carry the flag).
The object's address stays the sha256 of the plaintext.

Since every chunk but the last holds exactly 1 MiB, plaintext offset x lies in chunk
x // CHUNK, stored at :func:`chunk_offset`: a byte range is read by seeking there and
decrypting only the chunks it touches (:meth:`Cipher.decrypt_from`).
"""
from __future__ import annotations

import hashlib
import os
import secrets
import struct
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

MAGIC = b"DRVAULT1"
HEADER_LEN = len(MAGIC) + 8 + 8
CHUNK = 1 << 20
TAG = 16
STORED_CHUNK = 5 + CHUNK + TAG  # a full chunk on disk: length, flag, ciphertext+tag


class CryptoError(Exception):
    """Encryption is misconfigured, or an encrypted object fails authentication."""


def _aesgcm():
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:  # pragma: no cover - depends on the environment
        raise CryptoError("vault encryption needs the 'cryptography' package "
                          "(pip install cryptography)") from None
    return AESGCM


def load_key_from_env(env: dict | None = None) -> bytes | None:
    """The vault key from DUALREC_VAULT_KEY (hex) or DUALREC_VAULT_KEY_FILE; None: off."""
    env = os.environ if env is None else env
    raw = env.get("DUALREC_VAULT_KEY")
    source = "DUALREC_VAULT_KEY"
    if not raw and env.get("DUALREC_VAULT_KEY_FILE"):
        path = Path(env["DUALREC_VAULT_KEY_FILE"]).expanduser()
        source = str(path)
        try:
            raw = path.read_text(encoding="ascii").strip()
        except OSError as exc:
            raise CryptoError(f"vault key file {path}: {exc.strerror or exc}") from None
    if not raw:
        return None
    try:
        key = bytes.fromhex(raw.strip())
    except ValueError:
        raise CryptoError(f"vault key ({source}) must be 64 hexadecimal digits") from None
    if len(key) != 32:
        raise CryptoError(f"vault key ({source}) must be 32 bytes (64 hex digits), "
                          f"got {len(key)}")
    return key


def is_encrypted(head: bytes) -> bool:
    return head.startswith(MAGIC)


def chunk_offset(index: int) -> int:
    """Where chunk `index` starts in an encrypted object."""
    return HEADER_LEN + index * STORED_CHUNK


def plain_size(stored_bytes: int) -> int:
    """The plaintext size of an encrypted object `stored_bytes` long (no key needed:
    the length gives it away anyway). Not authenticated: reading the chunks is."""
    body = stored_bytes - HEADER_LEN
    full, rest = divmod(body, STORED_CHUNK)
    if body <= 0 or 0 < rest < 5 + TAG:
        raise CryptoError(f"encrypted object is corrupt ({stored_bytes} bytes long)")
    if rest == 0:  # the last chunk is a full one
        return full * CHUNK
    return full * CHUNK + rest - 5 - TAG


class Cipher:
    def __init__(self, key: bytes):
        if len(key) != 32:
            raise CryptoError("vault key must be 32 bytes")
        self._aead = _aesgcm()(key)
        self.key_id = hashlib.sha256(b"dualrec-vault-key-id" + key).digest()[:8]

    @staticmethod
    def _aad(sha256: str, index: int, final: bool) -> bytes:
        return sha256.encode("ascii") + struct.pack(">I?", index, final)

    def encrypt(self, chunks: Iterable[bytes], sha256: str) -> Iterator[bytes]:
        """Encrypt plaintext `chunks` (any sizes) of the object with address `sha256`."""
        prefix = secrets.token_bytes(8)
        yield MAGIC + self.key_id + prefix
        buf = bytearray()
        it = iter(chunks)
        exhausted = False
        index = 0
        while True:
            while len(buf) <= CHUNK and not exhausted:  # one byte of look-ahead
                try:
                    buf += next(it)
                except StopIteration:
                    exhausted = True
            block = bytes(buf[:CHUNK])
            del buf[:CHUNK]
            final = exhausted and not buf
            nonce = prefix + struct.pack(">I", index)
            ct = self._aead.encrypt(nonce, block, self._aad(sha256, index, final))
            yield struct.pack(">I?", len(ct), final) + ct
            if final:
                return
            index += 1

    def decrypt(self, stream: BinaryIO, sha256: str) -> Iterator[bytes]:
        """Plaintext chunks of the encrypted object with address `sha256` read from
        `stream` (any readable binary stream; no seeking)."""
        return self.decrypt_from(stream, sha256, 0)

    def decrypt_from(self, stream: BinaryIO, sha256: str, first_index: int) -> Iterator[bytes]:
        """Plaintext chunks from chunk `first_index` on: `stream` gives the object's
        header, then its chunks from that one (the header read, then a seek or a ranged
        GET to :func:`chunk_offset`). Each chunk is authenticated with its own index, so
        a chunk from elsewhere in the object (or another object) fails like an altered
        one. The caller stops reading when it has what it needs."""
        from cryptography.exceptions import InvalidTag

        header = _read_exact(stream, HEADER_LEN)
        if header is None or not header.startswith(MAGIC):
            raise CryptoError("not an encrypted vault object")
        if header[len(MAGIC):len(MAGIC) + 8] != self.key_id:
            raise CryptoError("encrypted with a different vault key")
        prefix = header[len(MAGIC) + 8:]
        index = first_index
        while True:
            head = _read_exact(stream, 5)
            if head is None:
                raise CryptoError("encrypted object is truncated (no final chunk)")
            size, final = struct.unpack(">I?", head)
            # A short chunk before the last would shift every later offset that
            # chunk_offset computes; encrypt() never writes one.
            if size < TAG or size > CHUNK + TAG or (not final and size != CHUNK + TAG):
                raise CryptoError(f"encrypted object is corrupt (chunk {index} length)")
            ct = _read_exact(stream, size)
            if ct is None:
                raise CryptoError(f"encrypted object is truncated (chunk {index})")
            try:
                block = self._aead.decrypt(prefix + struct.pack(">I", index), ct,
                                           self._aad(sha256, index, final))
            except InvalidTag:
                raise CryptoError(f"encrypted object fails authentication at chunk {index} "
                                  "(altered, truncated or not this object)") from None
            yield block
            if final:
                if stream.read(1):
                    raise CryptoError("encrypted object has data after its final chunk")
                return
            index += 1


def _read_exact(stream: BinaryIO, n: int) -> bytes | None:
    out = bytearray()
    while len(out) < n:
        got = stream.read(n - len(out))
        if not got:
            return None
        out += got
    return bytes(out)
