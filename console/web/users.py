"""Accounts, for admins: who may sign in, with which role; add one, or disable one (which ends
their sessions at once); and the API tokens, each revocable. All audited."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from console.tokens import Role
from console.web.accounts import AccountExists, NewUser
from console.web.auth import ADMINS
from console.web.forms import FormErrors, parse, present
from console.web.pages import Page, Problem, View


async def show(page: Page, errors: FormErrors | None = None, status: int = 200) -> Response:
    form: dict[str, Any] = {k: v for k, v in page.form.items() if k != "password"}
    return await page.render(
        "accounts.html",
        status,
        title="Accounts",
        users=await page.web.accounts.all(),
        tokens=await page.console.tokens.all(),
        roles=list(Role),
        errors=errors or {},
        form=form,
    )


async def accounts_page(page: Page) -> Response:
    return await show(page)


async def add(page: Page) -> Response:
    # Only the account's own fields: anything else a browser adds is not the person's mistake.
    fields = {k: v for k, v in page.form.items() if k in NewUser.model_fields}
    new, errors = parse(NewUser, present(fields))
    if new is None:
        return await show(page, errors, 422)
    try:
        user = await page.web.accounts.add(new, page.now)
    except AccountExists as error:
        return await show(page, {"username": str(error)}, 409)
    await page.audit("account.create", user.username, role=user.role.value, handler=user.handler)
    return await page.done(
        f"Account {user.username} ({user.role.value}) added.", "/console/accounts"
    )


async def disable(page: Page) -> Response:
    username = str(page.request.path_params["username"])
    if username == page.user.username:
        raise Problem(409, "You cannot disable your own account.")
    if not await page.web.accounts.disable(username):
        raise Problem(404, f"There is no account {username}.")
    ended = await page.web.sessions.end_all(username)
    await page.audit("account.disable", username, sessions_ended=ended)
    return await page.done(f"Account {username} is disabled and signed out.", "/console/accounts")


async def revoke_token(page: Page) -> Response:
    token_id = str(page.request.path_params["token_id"])
    if not await page.console.tokens.revoke(token_id):
        raise Problem(404, f"There is no API token {token_id}.")
    await page.audit("token.revoke", token_id)
    return await page.done(f"API token {token_id} is revoked.", "/console/accounts")


VIEWS = [
    View("/console/accounts", accounts_page, ADMINS),
    View("/console/accounts", add, ADMINS, "POST"),
    View("/console/accounts/{username}/disable", disable, ADMINS, "POST"),
    View("/console/tokens/{token_id}/revoke", revoke_token, ADMINS, "POST"),
]
