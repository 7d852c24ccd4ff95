"""The media vault: write-once, content-addressed storage of recordings and sidecars.

Every object is addressed by the sha256 of its (plaintext) content, under the key
``ab/cd/<sha256>``. Objects are never overwritten: storing content that is already
there is a no-op (after checking the stored copy still has that hash), which is what
makes a crashed ingest safe to run again.

Backends behind one interface (:class:`Vault`):

* :class:`LocalVault`: a folder (default ``<data_dir>/vault``). A write goes to a
  temporary name in the target folder, is fsynced, made read-only (0444), linked to its
  final name (a hard link fails instead of replacing an existing file), and re-hashed.
* :class:`S3Vault`: an S3-compatible bucket with Object Lock (boto3). Objects are put
  with ``ObjectLockMode=COMPLIANCE`` and ``ObjectLockRetainUntilDate`` (the recording's
  retention date); legal holds switch the object's legal hold on and off. Purging deletes
  every version of the key, which S3 refuses while a lock is in force.

Optional encryption at rest (:mod:`storage.crypto`) applies to both backends.
"""
from __future__ import annotations

import base64
import errno
import hashlib
import os
import secrets
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO, Iterator

from storage.crypto import (CHUNK, HEADER_LEN, Cipher, CryptoError, chunk_offset,
                            is_encrypted, plain_size as encrypted_plain_size)

READ_CHUNK = 1 << 20
_SHA_HEX = set("0123456789abcdef")


class VaultError(Exception):
    """A vault operation failed (I/O, a refused delete, a corrupt stored object)."""


class VaultLocked(VaultError):
    """The backend refuses to delete an object (Object Lock retention or legal hold)."""


@dataclass(frozen=True)
class StoredObject:
    sha256: str
    key: str
    size: int  # plaintext bytes
    encrypted: bool
    created: bool  # False: the object was already there (a no-op)


@dataclass(frozen=True)
class Check:
    """The result of re-hashing one stored object."""
    sha256: str
    status: str  # ok | missing | mismatch | unreadable
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def object_key(sha256: str) -> str:
    if len(sha256) != 64 or not set(sha256) <= _SHA_HEX:
        raise ValueError(f"not a lower-case sha256 hex digest: {sha256!r}")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


def sha256_of_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while block := fh.read(READ_CHUNK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _file_chunks(fh: BinaryIO, limit: int | None = None) -> Iterator[bytes]:
    """The stream's blocks, up to `limit` bytes in all (None: to the end)."""
    while limit is None or limit > 0:
        block = fh.read(READ_CHUNK if limit is None else min(READ_CHUNK, limit))
        if not block:
            return
        if limit is not None:
            limit -= len(block)
        yield block


def _read_upto(fh: BinaryIO, n: int) -> bytes:
    """Up to `n` bytes (fewer only at the end of the stream)."""
    out = bytearray()
    while len(out) < n and (got := fh.read(n - len(out))):
        out += got
    return bytes(out)


def _lock_until(day: date) -> datetime:
    """Object Lock keeps an object through the whole retention day (UTC midnight after)."""
    return datetime.combine(day + timedelta(days=1), dtime.min, tzinfo=timezone.utc)


class Vault(ABC):
    """Write-once, content-addressed object storage."""

    #: whether the backend itself enforces retention and legal holds (Object Lock)
    enforces_locks = False

    def __init__(self, cipher: Cipher | None = None):
        self.cipher = cipher

    @property
    def encrypted(self) -> bool:
        return self.cipher is not None

    @abstractmethod
    def describe(self) -> str:
        """Where the vault is, for messages (no secrets)."""

    # -- writing
    def put_file(self, path: str | os.PathLike, *, expected_sha256: str | None = None,
                 retain_until: date | None = None) -> StoredObject:
        """Store a file; a no-op if its content is already stored. ``expected_sha256``:
        refuse if the file's content is not that (it changed since it was hashed)."""
        path = Path(path)
        sha, size = sha256_of_file(path)
        if expected_sha256 is not None and sha != expected_sha256:
            raise VaultError(f"{path.name}: content changed: sha256 is {sha}, "
                             f"expected {expected_sha256}")
        return self._put(sha, size, lambda: open(path, "rb"), retain_until)

    def put_bytes(self, data: bytes, *, retain_until: date | None = None) -> StoredObject:
        import io

        sha = hashlib.sha256(data).hexdigest()
        return self._put(sha, len(data), lambda: io.BytesIO(data), retain_until)

    def _payload(self, opener, sha: str) -> Iterator[bytes]:
        """Bytes to store: the plaintext, or its encryption; checks the plaintext hash
        while reading (the source must not change under us)."""
        digest = hashlib.sha256()

        def plain() -> Iterator[bytes]:
            with opener() as fh:
                for block in _file_chunks(fh):
                    digest.update(block)
                    yield block
            if digest.hexdigest() != sha:
                raise VaultError(f"source changed while being stored (expected {sha})")

        if self.cipher is None:
            yield from plain()
        else:
            yield from self.cipher.encrypt(plain(), sha)

    @abstractmethod
    def _put(self, sha: str, size: int, opener, retain_until: date | None) -> StoredObject:
        ...

    # -- reading
    @abstractmethod
    def exists(self, sha256: str) -> bool:
        ...

    def _open_raw(self, sha256: str) -> BinaryIO:
        """The stored bytes; raises FileNotFoundError when absent."""
        return self._open_raw_at(sha256, 0, None)

    @abstractmethod
    def _open_raw_at(self, sha256: str, first: int, last: int | None) -> BinaryIO:
        """The stored bytes [first, last] (inclusive; `last` None or past the end: up to
        the end); raises FileNotFoundError when absent."""

    @abstractmethod
    def plain_size(self, sha256: str) -> int:
        """The object's content size, without reading the content; FileNotFoundError
        when absent."""

    def _need_cipher(self, sha256: str) -> Cipher:
        if self.cipher is None:
            raise VaultError(f"object {sha256} is encrypted and no vault key is "
                             "configured (DUALREC_VAULT_KEY / DUALREC_VAULT_KEY_FILE)")
        return self.cipher

    def iter_plain(self, sha256: str) -> Iterator[bytes]:
        """The object's content, decrypted if needed."""
        raw = self._open_raw(sha256)
        try:
            head = raw.read(len(b"DRVAULT1"))
            if is_encrypted(head):
                yield from self._need_cipher(sha256).decrypt(_Prefixed(head, raw), sha256)
            else:
                if head:
                    yield head
                yield from _file_chunks(raw)
        finally:
            raw.close()

    def iter_range(self, sha256: str, start: int, end: int,
                   size: int | None = None) -> Iterator[bytes]:
        """The content's bytes [start, end] (inclusive, as in an HTTP Range; an `end`
        past the content is cut to its last byte), in blocks of at most READ_CHUNK,
        decrypted if needed, reading only the part of the stored object that holds
        them. `size`: the content size if known (the database has it), else
        :meth:`plain_size` asks the backend. ValueError: the range is unsatisfiable;
        FileNotFoundError: no such object; CryptoError: a chunk read fails
        authentication; VaultError: the object is shorter than `size`."""
        if size is None:
            size = self.plain_size(sha256)
        if start < 0 or start > end or start >= size:
            raise ValueError(f"range {start}-{end} is not satisfiable "
                             f"(object {sha256} is {size} bytes)")
        end = min(end, size - 1)
        wanted = end - start + 1
        # Not a generator itself: a missing object or a missing key raise here, from
        # the call, while a web handler can still answer with an error status.
        head = self._read_head(sha256)
        if is_encrypted(head):
            cipher = self._need_cipher(sha256)
            first, last = start // CHUNK, end // CHUNK

            def chunks(raw: BinaryIO) -> Iterator[bytes]:
                return cipher.decrypt_from(_Prefixed(head, raw), sha256, first)

            return self._serve(sha256, chunks, chunk_offset(first),
                               chunk_offset(last + 1) - 1, start - first * CHUNK, wanted)
        return self._serve(sha256, lambda raw: _file_chunks(raw, wanted), start, end, 0,
                           wanted)

    def _read_head(self, sha256: str) -> bytes:
        fh = self._open_raw_at(sha256, 0, HEADER_LEN - 1)
        try:
            return _read_upto(fh, HEADER_LEN)
        finally:
            fh.close()

    def _serve(self, sha256: str, blocks_of, first: int, last: int, skip: int,
               wanted: int) -> Iterator[bytes]:
        """`wanted` bytes after the first `skip` of blocks_of(stored bytes [first,
        last]); the stream is opened on the first next() and closed however the
        iteration ends."""
        raw = self._open_raw_at(sha256, first, last)
        blocks = blocks_of(raw)
        try:
            for block in blocks:
                if skip:
                    block, skip = block[skip:], max(0, skip - len(block))
                block = block[:wanted]
                if block:
                    yield block
                    wanted -= len(block)
                if not wanted:
                    return
            raise VaultError(f"object {sha256} ends {wanted} bytes before the range does "
                             "(shorter than its recorded size)")
        finally:
            blocks.close()
            raw.close()

    def read_bytes(self, sha256: str) -> bytes:
        return b"".join(self.iter_plain(sha256))

    def copy_to(self, sha256: str, dest: str | os.PathLike) -> str:
        """Write the object's content to `dest`; returns the sha256 of what was written
        (equal to the address unless the stored copy is damaged: then VaultError)."""
        digest = hashlib.sha256()
        with open(dest, "wb") as out:
            for block in self.iter_plain(sha256):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != sha256:
            raise VaultError(f"stored object {sha256} is damaged: its content hashes to "
                             f"{digest.hexdigest()}")
        return sha256

    def verify(self, sha256: str) -> Check:
        """Re-hash one stored object."""
        digest = hashlib.sha256()
        try:
            for block in self.iter_plain(sha256):
                digest.update(block)
        except FileNotFoundError:
            return Check(sha256, "missing", "object not found in the vault")
        except CryptoError as exc:
            return Check(sha256, "mismatch", str(exc))
        except (OSError, VaultError) as exc:
            return Check(sha256, "unreadable", str(exc))
        got = digest.hexdigest()
        if got != sha256:
            return Check(sha256, "mismatch", f"content hashes to {got}")
        return Check(sha256, "ok")

    # -- lifecycle
    @abstractmethod
    def delete(self, sha256: str) -> None:
        """Remove the object for good (a purge); absent objects are fine."""

    def set_legal_hold(self, sha256: str, on: bool) -> None:
        """Backend-enforced legal hold (S3 Object Lock); a no-op where the store's
        database is the only enforcement."""

    def extend_retention(self, sha256: str, until: date) -> None:
        """Backend-enforced retention; only ever extended (compliance mode)."""

    @abstractmethod
    def iter_addresses(self) -> Iterator[str]:
        """Every object address in the vault (for finding orphans)."""

    def cleanup_temp(self, older_than_s: float = 3600) -> int:
        """Remove leftovers of interrupted writes; returns how many."""
        return 0


class _Prefixed:
    """A stream with some already-read bytes put back in front."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head, self._rest = head, rest

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0:
                out, self._head = self._head + self._rest.read(), b""
                return out
            out, self._head = self._head[:n], self._head[n:]
            if len(out) < n:
                out += self._rest.read(n - len(out))
            return out
        return self._rest.read(n)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class LocalVault(Vault):
    def __init__(self, root: str | os.PathLike, cipher: Cipher | None = None):
        super().__init__(cipher)
        self.root = Path(root)

    def describe(self) -> str:
        return f"local vault {self.root}" + (" (encrypted)" if self.cipher else "")

    def path_of(self, sha256: str) -> Path:
        return self.root / object_key(sha256)

    def _mkdirs(self, folder: Path) -> None:
        missing = []
        p = folder
        while not p.exists():
            missing.append(p)
            p = p.parent
        for p in reversed(missing):
            p.mkdir(mode=0o750, exist_ok=True)
            _fsync_dir(p.parent)

    def _put(self, sha: str, size: int, opener, retain_until: date | None) -> StoredObject:
        final = self.path_of(sha)
        if final.exists():
            return self._already(sha, size, final)
        self._mkdirs(final.parent)
        tmp = final.parent / f".{sha}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                for block in self._payload(opener, sha):
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o444)
            try:
                os.link(tmp, final)  # fails if the name exists: never replaces
            except FileExistsError:
                return self._already(sha, size, final)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP,
                                     errno.EXDEV, errno.EMLINK):
                    raise
                if final.exists():  # file systems without hard links
                    return self._already(sha, size, final)
                os.rename(tmp, final)
            _fsync_dir(final.parent)
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        _fsync_dir(final.parent)
        check = self.verify(sha)
        if not check.ok:
            # Just written and already wrong (disk or memory fault): take it back so a
            # rerun can write it again, and fail loudly.
            os.unlink(final)
            raise VaultError(f"object {sha} failed verification after write: {check.detail}")
        return StoredObject(sha, object_key(sha), size, self.encrypted, True)

    def _already(self, sha: str, size: int, final: Path) -> StoredObject:
        check = self.verify(sha)
        if not check.ok:
            raise VaultError(f"vault object {object_key(sha)} exists but is damaged "
                             f"({check.detail}); it is never overwritten: restore it from a "
                             "backup or remove it by hand, then store again")
        with open(final, "rb") as fh:
            enc = is_encrypted(fh.read(8))
        return StoredObject(sha, object_key(sha), size, enc, False)

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def _open_raw_at(self, sha256: str, first: int, last: int | None) -> BinaryIO:
        fh = open(self.path_of(sha256), "rb")
        if first:
            fh.seek(first)  # past the end: reads b"", like S3's range past the end
        return fh  # `last` is not enforced: the readers stop at their own count

    def plain_size(self, sha256: str) -> int:
        with open(self.path_of(sha256), "rb") as fh:
            head = fh.read(len(b"DRVAULT1"))
            stored = os.fstat(fh.fileno()).st_size
        return encrypted_plain_size(stored) if is_encrypted(head) else stored

    def delete(self, sha256: str) -> None:
        path = self.path_of(sha256)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise VaultError(f"cannot delete {object_key(sha256)}: {exc.strerror}") from None
        _fsync_dir(path.parent)

    def iter_addresses(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for a in sorted(self.root.iterdir()):
            if not a.is_dir() or len(a.name) != 2:
                continue
            for b in sorted(a.iterdir()):
                if not b.is_dir():
                    continue
                for f in sorted(b.iterdir()):
                    name = f.name
                    if len(name) == 64 and set(name) <= _SHA_HEX and name.startswith(a.name + b.name):
                        yield name

    def temp_files(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(self.root.glob("*/*/.*.tmp"))

    def cleanup_temp(self, older_than_s: float = 3600) -> int:
        now, n = time.time(), 0
        for p in self.temp_files():
            try:
                if now - p.stat().st_mtime >= older_than_s:
                    p.unlink()
                    n += 1
            except FileNotFoundError:
                pass
        return n


class S3Vault(Vault):
    """Objects in an S3 bucket that has Object Lock enabled (and so versioning)."""

    enforces_locks = True
    MAX_SINGLE_PUT = 5 * 1024 ** 3

    def __init__(self, bucket: str, prefix: str = "", cipher: Cipher | None = None, *,
                 client=None, endpoint_url: str | None = None, region: str | None = None):
        super().__init__(cipher)
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url,
                                             region_name=region)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" + (" (encrypted)" if self.cipher else "")

    def s3_key(self, sha256: str) -> str:
        return self.prefix + object_key(sha256)

    def _error_code(self, exc) -> str:
        return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))

    def _head(self, sha256: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.s3_key(sha256))
        except ClientError as exc:
            if self._error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise VaultError(f"{self.describe()}: {exc}") from None

    def _put(self, sha: str, size: int, opener, retain_until: date | None) -> StoredObject:
        from botocore.exceptions import ClientError

        if self._head(sha) is not None:
            return self._already(sha, size)
        # The payload goes through a temporary file: S3 needs its length and MD5 up
        # front (Object Lock requires Content-MD5), and encryption changes both.
        with tempfile.TemporaryFile() as spool:
            md5 = hashlib.md5()
            length = 0
            for block in self._payload(opener, sha):
                spool.write(block)
                md5.update(block)
                length += len(block)
            if length > self.MAX_SINGLE_PUT:
                raise VaultError(f"object {sha} is {length} bytes: larger than one S3 PUT "
                                 "(5 GiB)")
            spool.seek(0)
            args = dict(Bucket=self.bucket, Key=self.s3_key(sha), Body=spool,
                        ContentLength=length,
                        ContentMD5=base64.b64encode(md5.digest()).decode("ascii"),
                        Metadata={"sha256": sha, "encrypted": "1" if self.cipher else "0",
                                  "plaintext-bytes": str(size)})
            if retain_until is None:  # retention not known yet (open-ended): hold
                args.update(ObjectLockLegalHoldStatus="ON")
            elif _lock_until(retain_until) > datetime.now(timezone.utc):
                args.update(ObjectLockMode="COMPLIANCE",
                            ObjectLockRetainUntilDate=_lock_until(retain_until))
            # else: the retention already ended (a late backfill): no lock to set
            try:
                self.client.put_object(**args)
            except ClientError as exc:
                raise VaultError(f"{self.describe()}: put {sha}: {exc}") from None
        check = self.verify(sha)
        if not check.ok:
            raise VaultError(f"object {sha} failed verification after write: {check.detail}")
        return StoredObject(sha, object_key(sha), size, self.encrypted, True)

    def _already(self, sha: str, size: int) -> StoredObject:
        check = self.verify(sha)
        if not check.ok:
            raise VaultError(f"vault object {self.s3_key(sha)} exists but is damaged "
                             f"({check.detail}); it is never overwritten")
        head = self._head(sha) or {}
        enc = head.get("Metadata", {}).get("encrypted") == "1"
        return StoredObject(sha, object_key(sha), size, enc, False)

    def exists(self, sha256: str) -> bool:
        return self._head(sha256) is not None

    def _open_raw_at(self, sha256: str, first: int, last: int | None) -> BinaryIO:
        from botocore.exceptions import ClientError

        ranged = {} if first == 0 and last is None else \
            {"Range": f"bytes={first}-{'' if last is None else last}"}
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.s3_key(sha256),
                                         **ranged)
        except ClientError as exc:
            code = self._error_code(exc)
            if code in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(self.s3_key(sha256)) from None
            if code in ("416", "InvalidRange"):  # starts past the end: nothing there
                import io
                return io.BytesIO()
            what = f" bytes {ranged['Range'][6:]}" if ranged else ""
            raise VaultError(f"{self.describe()}: get {sha256}{what}: {exc}") from None
        return obj["Body"]

    def plain_size(self, sha256: str) -> int:
        head = self._head(sha256)
        if head is None:
            raise FileNotFoundError(self.s3_key(sha256))
        recorded = head.get("Metadata", {}).get("plaintext-bytes")
        if recorded is not None and recorded.isdigit():
            return int(recorded)
        # Not put by this vault (no metadata): what the stored bytes say.
        stored = head["ContentLength"]
        enc = is_encrypted(self._read_head(sha256))
        return encrypted_plain_size(stored) if enc else stored

    def delete(self, sha256: str) -> None:
        from botocore.exceptions import ClientError

        key = self.s3_key(sha256)
        try:
            pages = self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=key)
            versions = [(v["Key"], v["VersionId"]) for page in pages
                        for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
                        if v["Key"] == key]
            for k, version in versions:
                self.client.delete_object(Bucket=self.bucket, Key=k, VersionId=version)
        except ClientError as exc:
            if self._error_code(exc) == "AccessDenied":
                raise VaultLocked(f"{key}: the bucket's Object Lock refuses the delete "
                                  "(retention date not reached or legal hold on)") from None
            raise VaultError(f"{self.describe()}: delete {sha256}: {exc}") from None

    def set_legal_hold(self, sha256: str, on: bool) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.put_object_legal_hold(
                Bucket=self.bucket, Key=self.s3_key(sha256),
                LegalHold={"Status": "ON" if on else "OFF"})
        except ClientError as exc:
            raise VaultError(f"{self.describe()}: legal hold {sha256}: {exc}") from None

    def legal_hold(self, sha256: str) -> bool:
        head = self._head(sha256)
        if head is None:
            raise FileNotFoundError(self.s3_key(sha256))
        return head.get("ObjectLockLegalHoldStatus") == "ON"

    def retention(self, sha256: str) -> datetime | None:
        """The object's Object Lock retain-until date (from HEAD, which every
        S3-compatible server answers), or None."""
        head = self._head(sha256)
        if head is None:
            raise FileNotFoundError(self.s3_key(sha256))
        until = head.get("ObjectLockRetainUntilDate")
        if isinstance(until, str):
            until = datetime.fromisoformat(until.replace("Z", "+00:00"))
        if until is not None and until.tzinfo is None:
            until = until.replace(tzinfo=timezone.utc)
        return until

    def lock_mode(self, sha256: str) -> str | None:
        head = self._head(sha256) or {}
        return head.get("ObjectLockMode")

    def extend_retention(self, sha256: str, until: date) -> None:
        from botocore.exceptions import ClientError

        target = _lock_until(until)
        if target <= datetime.now(timezone.utc):
            return  # S3 refuses retain-until dates in the past; nothing to protect
        current = self.retention(sha256)
        if current is not None and current >= target:
            return  # compliance mode: never shortened
        try:
            self.client.put_object_retention(
                Bucket=self.bucket, Key=self.s3_key(sha256),
                Retention={"Mode": "COMPLIANCE", "RetainUntilDate": target})
        except ClientError as exc:
            raise VaultError(f"{self.describe()}: retention {sha256}: {exc}") from None

    def iter_addresses(self) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                name = obj["Key"].rsplit("/", 1)[-1]
                if len(name) == 64 and set(name) <= _SHA_HEX:
                    yield name


def open_vault(data_dir: Path, env: dict | None = None) -> Vault:
    """The configured vault: env DUALREC_VAULT_URL (``s3://bucket/prefix`` or a folder;
    default ``<data_dir>/vault``), S3 endpoint from DUALREC_S3_ENDPOINT_URL (for MinIO
    and the like; credentials and region the usual AWS way), encryption key from
    DUALREC_VAULT_KEY / DUALREC_VAULT_KEY_FILE."""
    from storage.crypto import load_key_from_env

    env = os.environ if env is None else env
    key = load_key_from_env(env)
    cipher = Cipher(key) if key else None
    url = env.get("DUALREC_VAULT_URL", "").strip()
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://"):].partition("/")
        if not bucket:
            raise VaultError(f"DUALREC_VAULT_URL {url!r}: no bucket")
        return S3Vault(bucket, prefix, cipher, endpoint_url=env.get("DUALREC_S3_ENDPOINT_URL"),
                       region=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION"))
    if url.startswith("file://"):
        url = url[len("file://"):]
    root = Path(url).expanduser() if url else data_dir / "vault"
    return LocalVault(root, cipher)
