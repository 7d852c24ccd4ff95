"""Streaming vault media to the player with HTTP Range (RFC 9110): 206 with
Content-Range for a satisfiable range, 416 for one that is not, 200 for no range.
Bytes come from ``Vault.iter_range`` a block at a time, so an encrypted vault or an
S3 bucket is streamed without reading the whole file into memory."""
from __future__ import annotations

import logging
import mimetypes
import re

from fastapi.responses import Response, StreamingResponse

log = logging.getLogger("dualrec.console")

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
         ".mkv": "video/x-matroska", ".webm": "video/webm", ".avi": "video/x-msvideo",
         ".ts": "video/mp2t", ".flv": "video/x-flv", ".wav": "audio/wav",
         ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".flac": "audio/flac",
         ".ogg": "audio/ogg"}


class BadRange(ValueError):
    pass


def content_type(name: str | None) -> str:
    name = (name or "").lower()
    ext = name[name.rfind("."):] if "." in name else ""
    return TYPES.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte, inclusive, or None for the whole file. One range only (a
    player never asks for several); BadRange when it cannot be satisfied."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m or (m.group(1) == "" and m.group(2) == ""):
        raise BadRange(header)
    first, last = m.group(1), m.group(2)
    if first == "":  # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise BadRange(header)
        return max(0, size - n), size - 1
    a = int(first)
    b = int(last) if last else size - 1
    if a >= size or b < a:
        raise BadRange(header)
    return a, min(b, size - 1)


def _guarded(blocks, what: str):
    """A failure mid-stream (a tampered encrypted chunk) can no longer change the
    status: log it and end the body early, so the client sees a short response
    rather than wrong bytes."""
    try:
        yield from blocks
    except Exception:
        log.exception("streaming %s stopped", what)
        raise


def stream(vault, sha256: str, size: int, name: str | None, range_header: str | None,
           download_name: str | None = None) -> Response:
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "no-store"}
    ctype = content_type(name)
    try:
        span = parse_range(range_header, size)
    except BadRange:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    if size == 0:
        return Response(b"", status_code=200, media_type=ctype, headers=headers)
    first, last = span if span else (0, size - 1)
    # Opened before the response starts, so a missing object is still a clean error.
    blocks = vault.iter_range(sha256, first, last, size)
    first_block = next(blocks, b"")

    def body():
        yield first_block
        yield from _guarded(blocks, sha256)

    headers["Content-Length"] = str(last - first + 1)
    if span:
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    return StreamingResponse(body(), status_code=206 if span else 200, media_type=ctype,
                             headers=headers)
