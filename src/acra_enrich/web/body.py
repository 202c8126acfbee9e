"""Read a streamed response body under a size cap, decompressing with a bound on the output.

httpx's own decoders inflate a whole network chunk at once (a 64 KiB gzip chunk of zeros
is 64 MiB), so the body is read raw and inflated here with zlib's `max_length`: memory never
exceeds the cap plus one chunk, whatever the compression ratio.
"""

from __future__ import annotations

import zlib

import httpx

from acra_enrich.web.result import DECODING_ERROR, DECOMPRESSION_BOMB, TOO_LARGE

# A decoded/compressed ratio above this, once past the cap, is a bomb rather than a big page
# (ordinary HTML compresses 5-10x; zeros compress about 1000x).
BOMB_RATIO = 100


class BodyError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class _Inflater:
    """One gzip or deflate stream; `feed` returns at most `limit` bytes of output."""

    def __init__(self, encoding: str) -> None:
        self._deflate = encoding == "deflate"
        self._fresh = True
        self._z = zlib.decompressobj(zlib.MAX_WBITS if self._deflate else 16 + zlib.MAX_WBITS)

    def feed(self, data: bytes, limit: int) -> bytes:
        try:
            out = self._z.decompress(data, limit)
        except zlib.error:
            if not (self._deflate and self._fresh):
                raise
            # "deflate" is often sent raw, without the zlib header it is supposed to have.
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._z.decompress(data, limit)
        self._fresh = False
        return out

    @property
    def unconsumed(self) -> int:
        """Input bytes held back because the output limit was reached."""
        return len(self._z.unconsumed_tail)

    def flush(self) -> bytes:
        return self._z.flush()


def _inflater_for(content_encoding: str) -> _Inflater | None:
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip().lower() not in ("", "identity")]
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return _Inflater("deflate" if codings[0] == "deflate" else "gzip")
    # Nothing else is asked for (Accept-Encoding: gzip, deflate); anything else is kept as sent.
    return None


async def read_body(response: httpx.Response, cap: int, *, truncate: bool = False) -> bytes:
    """The decoded body, at most `cap` bytes.

    Past the cap: with `truncate`, the first `cap` bytes (robots.txt is read that way);
    otherwise BodyError(too_large | decompression_bomb). A corrupt encoding raises
    BodyError(decoding_error).
    """
    declared = response.headers.get("content-length", "")
    if not truncate and declared.isdigit() and int(declared) > cap:
        raise BodyError(TOO_LARGE, f"Content-Length {declared} exceeds the {cap}-byte cap")
    inflater = _inflater_for(response.headers.get("content-encoding", ""))
    body = bytearray()
    raw = 0
    try:
        async for chunk in response.aiter_raw():
            raw += len(chunk)
            if inflater is None:
                body += chunk
            else:
                # One byte past the cap is enough to know it is past the cap.
                body += inflater.feed(chunk, cap - len(body) + 1)
            if len(body) > cap or raw > cap:
                if truncate:
                    return bytes(body[:cap])
                # Input actually inflated so far: a chunk stops being read once the cap is reached.
                consumed = raw - (inflater.unconsumed if inflater is not None else 0)
                ratio = len(body) / max(consumed, 1)
                if ratio > BOMB_RATIO:
                    raise BodyError(DECOMPRESSION_BOMB, f"decoded size passed the {cap}-byte cap at ratio {ratio:.0f}:1")
                raise BodyError(TOO_LARGE, f"body passed the {cap}-byte cap")
        if inflater is not None:
            body += inflater.flush()
    except zlib.error as exc:
        raise BodyError(DECODING_ERROR, f"corrupt {response.headers.get('content-encoding')} body: {exc}") from exc
    if len(body) > cap:
        if truncate:
            return bytes(body[:cap])
        raise BodyError(TOO_LARGE, f"body passed the {cap}-byte cap")
    return bytes(body)
