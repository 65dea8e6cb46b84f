"""Reading a Twilio request: size limit, `X-Twilio-Signature` against the public URL, then the form.

Errors (caught in one place, `ivr.webhooks.webhook`):

    WebhookError
    ├── BodyTooLarge     413, nothing read past the limit
    ├── BadSignature     403, nothing changed
    └── MalformedForm    signed by Twilio but not what we expect: the caller is still routed
"""

from __future__ import annotations

import hmac
from typing import TypeVar
from urllib.parse import unquote_plus

from pydantic import BaseModel, ValidationError
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


# Twilio's webhooks carry a few dozen parameters: a stranger's form of thousands costs parsing and
# hashing on the event loop before its signature can be found wrong.
MAX_FIELDS = 100


class Params(dict[str, list[str]]):
    """Form parameters, each with all its values; `getall` is what RequestValidator looks for."""

    def getall(self, name: str) -> list[str]:
        return self[name]

    def first(self, name: str) -> str:
        values = self.get(name)
        return values[0] if values else ""


def parse_params(body: str) -> Params:
    """application/x-www-form-urlencoded, as parse_qsl reads it, without its per-pair overhead."""
    params = Params()
    for pair in body.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        params.setdefault(name, []).append(value)
    return params


def public_request_url(request: Request, public_base_url: str) -> str:
    """The URL Twilio requested: behind a TLS proxy the internal one differs, so rebuild it."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    url = public_base_url.rstrip("/") + request.scope["path"]
    return f"{url}?{query}" if query else url


async def signed_params(
    request: Request, validator: RequestValidator, public_base_url: str
) -> Params:
    """The POST parameters, once the signature over them and the public URL checks out."""
    body = await read_body(request)
    if body.count(b"&") >= MAX_FIELDS:  # refused before any parsing or hashing
        raise BadSignature(f"a form of more than {MAX_FIELDS} fields is not Twilio's")
    try:
        params = parse_params(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadSignature("body is not UTF-8 form data") from None
    signature = request.headers.get("x-twilio-signature", "")
    if not signature.isascii():  # Twilio's is base64; compare_digest refuses anything else
        raise BadSignature("signature is not base64")
    url = public_request_url(request, public_base_url)
    # The URL as configured almost always matches; `validate` also tries it with and without
    # the default port (Twilio is not consistent there), at twice the cost.
    expected = validator.compute_signature(url, params)
    if not signature or not (
        hmac.compare_digest(expected, signature) or validator.validate(url, params, signature)
    ):
        raise BadSignature(f"signature does not match {request.scope['path']}")
    return params


def parse_form(params: Params, model: type[FormT]) -> FormT:
    try:
        return model.model_validate({name: values[0] for name, values in params.items()})
    except ValidationError as error:
        raise MalformedForm(
            [
                f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}"
                for item in error.errors(include_url=False, include_input=False)
            ]
        ) from None
