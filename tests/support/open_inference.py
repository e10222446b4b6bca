"""What the tests of the Open Inference Protocol share: the server's API key and models, and the POST of a
photo that each client's answer is compared with."""

from typing import Any

import httpx

KEY = "oip-test-key"
CATS_DOGS = "camserve-resnet34"
CIFAR = "camserve-lesson7-resnet2"


def keyed() -> dict[str, str]:
    """The key's header, a new dict each time: the clients add their own headers to the dict they are given."""
    return {"X-API-Key": KEY}


def posted(base_url: str, photo: bytes, model: str = CATS_DOGS) -> dict[str, Any]:
    """camserve's own answer to the photo: POST /predictions."""
    response = httpx.post(
        f"{base_url}/predictions", params={"model": model}, files={"file": ("p", photo)}, headers=keyed()
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
