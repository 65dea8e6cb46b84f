"""Reading a Twilio request: size limit, `X-Twilio-Signature` against the public URL, then the form.

Errors (caught in one place, `ivr.webhooks.webhook`):

    WebhookError
    ├── BodyTooLarge     413, nothing read past the limit
    ├── BadSignature     403, nothing changed
    └── MalformedForm    signed by Twilio but not what we expect: the caller is still routed
"""

from __future__ import annotations

from typing import TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError
from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from twilio.request_validator import RequestValidator

MAX_BODY_BYTES = 64 * 1024

FormT = TypeVar("FormT", bound=BaseModel)


class WebhookError(Exception):
    pass


class BodyTooLarge(WebhookError):
    pass


class BadSignature(WebhookError):
    pass


class MalformedForm(WebhookError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body of {declared} bytes is over {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def public_request_url(request: Request, public_base_url: str) -> str:
    """The URL Twilio requested: behind a TLS proxy the internal one differs, so rebuild it."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    url = public_base_url.rstrip("/") + request.url.path
    return f"{url}?{query}" if query else url


async def signed_params(
    request: Request, validator: RequestValidator, public_base_url: str
) -> ImmutableMultiDict[str, str]:
    """The POST parameters, once the signature over them and the public URL checks out."""
    body = await read_body(request)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise BadSignature("body is not UTF-8 form data") from None
    params = ImmutableMultiDict(pairs)
    signature = request.headers.get("x-twilio-signature", "")
    url = public_request_url(request, public_base_url)
    if not signature or not validator.validate(url, params, signature):
        raise BadSignature(f"signature does not match {request.url.path}")
    return params


def parse_form(params: ImmutableMultiDict[str, str], model: type[FormT]) -> FormT:
    try:
        return model.model_validate(dict(params))
    except ValidationError as error:
        raise MalformedForm(
            [
                f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}"
                for item in error.errors(include_url=False, include_input=False)
            ]
        ) from None
