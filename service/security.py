"""Optional API-key protection for the endpoints that create results (off unless CAMSERVE_API_KEY is set)."""

import secrets
from typing import Annotated

from fastapi import Depends, Header

from camserve.service.errors import ApiError
from camserve.service.state import AppState, get_state

API_KEY_HEADER = "X-API-Key"


async def require_api_key(
    state: Annotated[AppState, Depends(get_state)],
    x_api_key: Annotated[str | None, Header(description="Needed only when the server sets CAMSERVE_API_KEY.")] = None,
) -> None:
    expected = state.settings.api_key
    if expected is None:
        return
    if x_api_key is None or not secrets.compare_digest(x_api_key.encode(), expected.get_secret_value().encode()):
        raise ApiError(401, f"a valid {API_KEY_HEADER} header is required", {"WWW-Authenticate": API_KEY_HEADER})
