"""A webhook's query parameters: read as Starlette's request.query_params reads them."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from bots.common import query_params


@pytest.mark.parametrize(
    "query",
    [
        b"",
        b"signature=ab12&timestamp=1764381600&nonce=n1&openid=oUser_-x&encrypt_type=aes&msg_signature=cd34",
        b"a=1&a=2",
        b"a=&b",
        b"&&a=1&&",
        b"a==1&=2",
        b"a=x%20y&b=x+y&c=%E4%BD%A0%E5%A5%BD",
        b"a%3D=1&b=%zz",
        b"a=1;b=2",
        b"a=\xe9",
    ],
)
def test_query_params_are_starlettes(query: bytes) -> None:
    request = Request({"type": "http", "query_string": query, "headers": []})
    assert query_params(request) == dict(request.query_params)
