"""The load generator's HTTP side: aiohttp on loopback, one keep-alive connection per client.

aiohttp is used because it is the cheapest asyncio client at hand: the generator shares the
machine's two cores with the servers and PostgreSQL, and every CPU second it takes is one the
servers do not get (each run records how much it took).
"""

import io
import json

import aiohttp

NO_COMPRESSION = {"Accept-Encoding": "identity"}  # tipg compresses when asked; we do not


def session(connections: int) -> aiohttp.ClientSession:
    # Idle connections are dropped before uvicorn's keep-alive (5 s) would close them under a
    # request that is on its way.
    connector = aiohttp.TCPConnector(
        limit=connections, limit_per_host=connections, keepalive_timeout=2
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers=NO_COMPRESSION,
        timeout=aiohttp.ClientTimeout(total=120),
        auto_decompress=False,
        json_serialize=json.dumps,
    )


async def token(http: aiohttp.ClientSession, base: str, username: str, password: str) -> str:
    """A bearer token from POST /auth/token."""
    form = {"username": username, "password": password}
    async with http.post(f"{base}/auth/token", data=form) as response:
        body = await response.json()
        if response.status != 200:
            raise RuntimeError(f"login as {username} failed: {response.status} {body}")
        return body["access_token"]


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def jpeg() -> bytes:
    """A small site photo without EXIF (the report carries the position)."""
    from PIL import Image

    image = Image.new("RGB", (640, 480), (120, 140, 90))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


async def upload_photo(http: aiohttp.ClientSession, base: str, auth: dict[str, str]) -> str:
    form = aiohttp.FormData()
    form.add_field("file", jpeg(), filename="site.jpg", content_type="image/jpeg")
    async with http.post(f"{base}/photos", data=form, headers=auth) as response:
        body = await response.json()
        if response.status not in (200, 201):
            raise RuntimeError(f"photo upload failed: {response.status} {body}")
        return body["id"]
