"""Byte ranges of vault objects (what the web console streams for HTTP Range requests):
local and S3 (moto's server, as in test_store_vault), plaintext and encrypted; only the
chunks a range touches are read, each one authenticated."""
import hashlib
import os
import tracemalloc

import pytest

from storage.crypto import CHUNK, Cipher, CryptoError, chunk_offset
from storage.vault import LocalVault, S3Vault, VaultError
from tests.test_store_vault import KEY, s3_env, s3_server  # noqa: F401 (fixtures)

# Four chunks, the last one short: ranges can start, end and cross chunk boundaries.
SIZE = 3 * CHUNK + 12345


@pytest.fixture(scope="module")
def data():
    return os.urandom(SIZE)


@pytest.fixture(params=["local", "local-encrypted", "s3", "s3-encrypted"])
def vault(request, tmp_path):
    cipher = Cipher(bytes.fromhex(KEY)) if request.param.endswith("encrypted") else None
    if request.param.startswith("s3"):
        client, bucket = request.getfixturevalue("s3_env")
        return S3Vault(bucket, "recordings", cipher, client=client)
    return LocalVault(tmp_path / "vault", cipher)


def joined(vault, sha, start, end, size=None):
    blocks = list(vault.iter_range(sha, start, end, size))
    assert all(0 < len(b) <= CHUNK for b in blocks)
    return b"".join(blocks)


def test_ranges(vault, data):
    obj = vault.put_bytes(data)
    sha = obj.sha256
    assert obj.encrypted == vault.encrypted
    assert vault.plain_size(sha) == SIZE
    cases = [
        (0, 0), (0, 999),  # the start; one byte
        (5 * CHUNK // 2, 5 * CHUNK // 2 + 4095),  # the middle of a chunk
        (CHUNK - 10, CHUNK + 9),  # across a chunk boundary
        (CHUNK - 1, 3 * CHUNK),  # across three chunks, ending on a chunk's first byte
        (CHUNK, 2 * CHUNK - 1),  # exactly one chunk
        (3 * CHUNK + 5, SIZE - 1), (SIZE - 1, SIZE - 1),  # in the short last chunk
        (0, SIZE - 1),  # the whole object
    ]
    for start, end in cases:
        assert joined(vault, sha, start, end, SIZE) == data[start:end + 1], (start, end)
        assert joined(vault, sha, start, end) == data[start:end + 1], (start, end)
    # an end past the object is cut to its last byte (HTTP)
    assert joined(vault, sha, SIZE - 3, SIZE + 1000) == data[-3:]
    for start, end in [(SIZE, SIZE + 5), (10, 9), (-1, 5)]:
        with pytest.raises(ValueError):
            vault.iter_range(sha, start, end)
    missing = hashlib.sha256(b"never stored").hexdigest()
    with pytest.raises(FileNotFoundError):
        vault.plain_size(missing)
    with pytest.raises(FileNotFoundError):  # from the call, before any byte is served
        vault.iter_range(missing, 0, 10, size=100)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK])
def test_plain_size_at_chunk_edges(tmp_path, size):
    vault = LocalVault(tmp_path / "vault", Cipher(bytes.fromhex(KEY)))
    content = os.urandom(size)
    sha = vault.put_bytes(content).sha256
    assert vault.plain_size(sha) == size
    if size:
        assert joined(vault, sha, size - 1, size - 1) == content[-1:]


def test_a_tampered_chunk_fails_where_it_is_read(tmp_path, data):
    vault = LocalVault(tmp_path / "vault", Cipher(bytes.fromhex(KEY)))
    sha = vault.put_bytes(data).sha256
    path = vault.path_of(sha)
    os.chmod(path, 0o644)
    with open(path, "r+b") as fh:  # one bit of chunk 2's ciphertext
        fh.seek(chunk_offset(2) + 5 + 1000)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0x01]))
    # the chunks around it still read (each is authenticated on its own) ...
    assert joined(vault, sha, 0, 2 * CHUNK - 1) == data[:2 * CHUNK]
    assert joined(vault, sha, 3 * CHUNK, SIZE - 1) == data[3 * CHUNK:]
    # ... a range touching it does not, and serves nothing of that chunk
    served = bytearray()
    with pytest.raises(CryptoError, match="chunk 2"):
        for block in vault.iter_range(sha, 2 * CHUNK - 100, 2 * CHUNK + 100):
            served += block
    assert served == data[2 * CHUNK - 100:2 * CHUNK]


def test_a_chunk_moved_elsewhere_fails(tmp_path, data):
    # A reader seeking to a chunk must not accept another chunk found there.
    vault = LocalVault(tmp_path / "vault", Cipher(bytes.fromhex(KEY)))
    sha = vault.put_bytes(data).sha256
    path = vault.path_of(sha)
    raw = bytearray(path.read_bytes())
    one, two = slice(chunk_offset(1), chunk_offset(2)), slice(chunk_offset(2), chunk_offset(3))
    raw[one], raw[two] = raw[two], raw[one]
    os.chmod(path, 0o644)
    path.write_bytes(bytes(raw))
    with pytest.raises(CryptoError, match="chunk 1"):
        list(vault.iter_range(sha, CHUNK, CHUNK))


def test_shorter_than_recorded_and_no_key(tmp_path, data):
    vault = LocalVault(tmp_path / "vault", Cipher(bytes.fromhex(KEY)))
    sha = vault.put_bytes(data).sha256
    with pytest.raises(VaultError, match="shorter"):  # the database says more than there is
        list(vault.iter_range(sha, SIZE - 10, SIZE + 10, size=SIZE + 100))
    with pytest.raises(VaultError, match="no vault key"):
        LocalVault(vault.root).iter_range(sha, 0, 10)
    with pytest.raises(CryptoError, match="different vault key"):
        list(LocalVault(vault.root, Cipher(b"\x11" * 32)).iter_range(sha, 0, 10))
    plain = LocalVault(tmp_path / "plain")
    psha = plain.put_bytes(data[:1000]).sha256
    with pytest.raises(VaultError, match="shorter"):
        list(plain.iter_range(psha, 900, 1100, size=2000))


def test_a_64_mib_object_streams_in_bounded_memory(tmp_path):
    vault = LocalVault(tmp_path / "vault", Cipher(bytes.fromhex(KEY)))
    src = tmp_path / "big.bin"
    block = os.urandom(CHUNK)
    digest = hashlib.sha256()
    with open(src, "wb") as fh:
        for i in range(64):
            piece = block[i:] + block[:i]  # not 64 equal chunks
            fh.write(piece)
            digest.update(piece)
    obj = vault.put_file(src)
    src.unlink()
    size = 64 * CHUNK
    del block, piece

    tracemalloc.start()
    try:
        got, n = hashlib.sha256(), 0
        for part in vault.iter_range(obj.sha256, 0, size - 1):
            got.update(part)
            n += len(part)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == size and got.hexdigest() == digest.hexdigest()
    assert peak < 8 * CHUNK, f"peak {peak / CHUNK:.1f} MiB"


@pytest.mark.parametrize("encrypted", [False, True])
def test_s3_reads_only_the_chunks_a_range_touches(s3_env, data, encrypted):  # noqa: F811
    client, bucket = s3_env
    vault = S3Vault(bucket, "recordings", Cipher(bytes.fromhex(KEY)) if encrypted else None,
                    client=client)
    sha = vault.put_bytes(data).sha256
    fetched = []
    real_get = client.get_object

    def get_object(**kw):
        out = real_get(**kw)
        fetched.append((kw.get("Range"), out["ContentLength"]))
        return out

    client.get_object = get_object
    try:
        assert joined(vault, sha, 2 * CHUNK + 7, 2 * CHUNK + 70, SIZE) == \
            data[2 * CHUNK + 7:2 * CHUNK + 71]
    finally:
        del client.get_object
    assert all(rng and rng.startswith("bytes=") for rng, _ in fetched)  # never the whole
    assert sum(n for _, n in fetched) <= (CHUNK + 100 if encrypted else 100)
