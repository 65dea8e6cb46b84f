"""The `lifeline` command: run the processes, place a simulated call, manage accounts."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import NoReturn, ParamSpec, TypeVar

import click
import redis
import redis.asyncio
import uvicorn
from pydantic import SecretStr, ValidationError

from config.redis_client import async_client
from config.settings import Settings, SettingsError, load_settings
from console.tokens import LIFETIME_DAYS, RANKS, SCOPED_ROLES, Role, Scope, TokenInfo, Tokens
from console.web.accounts import AccountExists, Accounts, NewUser, User
from console.web.mfa import SecondFactors, code_at, code_attempts
from console.web.ratelimit import LoginLimiter
from console.web.sessions import Sessions
from lifeline import devrun, logging, phonecall, processes
from lifeline import drill as drills
from lifeline.app import Serve, create_app
from lifeline.simulation.inputs import scenario_from
from lifeline.simulation.recorded import recorded_day
from lifeline.simulation.report import percent, secs, write_all
from lifeline.simulation.run import simulate_on_own_redis
from lifeline.simulation.staffing import as_yaml, fewest_handlers
from prompts.catalogue import CatalogueError, load_catalogue
from routing import key_migration
from routing.rules import RuleSetError, default_rules, parse_rules
from workers.job_queues import BACKGROUND, UnknownQueue
from workers.job_queues import DEFAULT as DEFAULT_QUEUES
from workers.job_queues import parse as parse_queues

P = ParamSpec("P")
R = TypeVar("R")

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
MAIN_LINE = "+441134960000"
# On a shared CPU, what nobody waits on gives way to the patient's path (the webhooks, the
# handlers' own process, connects, the probe): the consoles and the background queues.
CONSOLE_NICENESS = 10
BACKGROUND_NICENESS = 10
CALLER = "+447700900123"


def fails_clearly(command: Callable[P, R]) -> Callable[P, R]:
    """Configuration problems end the process with the variable's name, and an unreachable
    Redis with what to check, not a traceback."""

    @wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (SettingsError, CatalogueError, RuleSetError) as error:
            click.echo(f"lifeline: configuration error: {error}", err=True)
            sys.exit(2)
        except key_migration.NotMigrated as error:
            click.echo(f"lifeline: {error}", err=True)
            sys.exit(2)
        except redis.ResponseError as error:  # Redis answered, and refused
            click.echo(f"lifeline: Redis refused a command: {error}", err=True)
            sys.exit(2)
        except redis.RedisError as error:  # its message names the host and port, never a password
            click.echo(f"lifeline: Redis (REDIS_URL) cannot be reached: {error}", err=True)
            sys.exit(2)

    return run


def configured() -> Settings:
    settings = load_settings()
    logging.configure(settings.log_level, secrets=settings.secrets, log_format=settings.log_format)
    return settings


@click.group()
def main() -> None:
    """Lifeline: IVR and call routing for an urgent-care telephone line."""


@main.command()
@fails_clearly
def run() -> None:
    """Start everything for a local run: Redis (embedded unless REDIS_URL is set), the web,
    worker and cron processes, and the simulated phone network."""
    sys.exit(devrun.run())


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="0.0.0.0 for every interface.")
@click.option("--port", type=int, default=None, help="Defaults to PORT.")
@click.option(
    "--serve",
    type=click.Choice([serve.value for serve in Serve]),
    default=Serve.ALL.value,
    show_default=True,
    help="webhooks: Twilio's (the internet's); console: the consoles and the API (staff's);"
    " floor: the handlers' own console and API (a part of the console's, kept apart).",
)
@fails_clearly
def web(host: str, port: int | None, serve: str) -> None:
    """A web process: Twilio webhooks, consoles and API, or a part of them."""
    settings = configured()
    load_catalogue()
    if serve == Serve.CONSOLE:
        # Separate processes do not separate a small machine's CPU: the staff's process gives
        # way to the patients' (sign-ins hash passwords on purpose slowly).
        os.nice(CONSOLE_NICENESS)
    uvicorn.run(
        create_app(settings, serve=Serve(serve)),
        host=host,
        port=port or settings.port,
        log_config=None,
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=[str(network) for network in settings.trusted_proxies],
    )


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option(
    "--queues",
    default=",".join(DEFAULT_QUEUES),
    show_default=True,
    help="The queues to serve, comma-separated; taken in this order of urgency whatever the"
    " order given.",
)
@fails_clearly
def worker(burst: bool, queues: str) -> None:
    """An RQ worker for Lifeline's jobs (started again if Redis restarts): one of a pool, with
    --queues, or, without, a worker for every queue."""
    try:
        serving = parse_queues(queues)
    except UnknownQueue as error:
        raise click.BadParameter(str(error), param_hint="--queues") from None
    if set(serving) <= BACKGROUND:
        os.nice(BACKGROUND_NICENESS)
    processes.run_worker(configured(), burst, serving)


@main.command()
@fails_clearly
def cron() -> None:
    """RQ's cron scheduler with Lifeline's periodic jobs (started again if Redis restarts)."""
    processes.run_cron(configured())


@main.command()
@click.option("--from", "caller", default=CALLER, show_default=True, help="The caller's number.")
@click.option("--to", "line", default=MAIN_LINE, show_default=True, help="The number called.")
@click.option("--press", default=None, help='Keys to press at each question, e.g. "2,1".')
@click.option(
    "--hold",
    "hold_seconds",
    type=float,
    default=0.0,
    show_default=True,
    help="With --press: seconds to stay on hold once queued.",
)
@fails_clearly
def call(caller: str, line: str, press: str | None, hold_seconds: float) -> None:
    """Place a simulated call through the local phone network and hear what the caller hears."""
    settings = load_settings()
    presses = phonecall.parse_presses(press) if press is not None else None
    status = phonecall.place_call(
        settings.api_base_url,
        caller=caller,
        line=line,
        presses=presses,
        hold_seconds=hold_seconds,
        out=sys.stdout,
        keys=None if presses is not None else sys.stdin,
    )
    sys.exit(status)


@main.command()
@click.option("--demand", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--staffing", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--events", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--rules",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A rule set (YAML) to route by, instead of the packaged default.",
)
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), help="The first day (London).")
@click.option("--days", type=click.IntRange(1, 31), help="How many days.")
@click.option(
    "--hours", type=click.IntRange(1, 24), help="Of the last day, from midnight (24: all of it)."
)
@click.option("--seed", type=int, help="The same seed, the same run.")
@click.option("--factor", type=click.FloatRange(0.01, 20), help="Demand times this (1.6, 3.5).")
@click.option(
    "--recorded",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Replay this day's calls as Lifeline recorded them (read from REDIS_URL).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/simulation"),
    show_default=True,
)
def simulate(
    demand: Path | None,
    staffing: Path | None,
    events: Path | None,
    rules: Path | None,
    start: datetime | None,
    days: int | None,
    hours: int | None,
    seed: int | None,
    factor: float | None,
    recorded: datetime | None,
    out: Path,
) -> None:
    """Simulate a day (or several) of the line against Lifeline's own routing, on a Redis of
    its own and a virtual clock; writes result.json, hours.csv and report.html to OUT. Without
    files, the packaged contract-area profile."""
    try:
        scenario = scenario_from(
            demand,
            staffing,
            events,
            start=start.date() if start else None,
            days=days,
            hours=hours,
            seed=seed,
        )
        if factor is not None:
            scenario = scenario.model_copy(
                update={"demand": scenario.demand.model_copy(update={"factor": factor})}
            )
        routing_rules = None
        if rules is not None:
            try:
                routing_rules = parse_rules(rules.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, RuleSetError) as error:
                raise ValueError(f"{rules}: {error}") from None
        activated = [parse_rules(document) for _, document in scenario.activations()]
        run_by = [routing_rules or default_rules(), *activated]
        unknown = scenario.staffing.skills_unknown_to(run_by)
        if unknown:
            raise ValueError(f"staffing: skills no rule set of the run knows: {unknown}")
        out.mkdir(parents=True, exist_ok=True)  # before the run, not after it
    except (ValueError, OSError, RuleSetError) as error:
        click.echo(f"lifeline simulate: {error}", err=True)
        sys.exit(2)
    if recorded is not None:
        settings = configured()
        calls = with_redis(
            settings,
            lambda client: recorded_day(client, recorded.date(), settings.welsh_line_numbers),
        )
        if not calls:
            click.echo(f"lifeline simulate: no calls recorded on {recorded.date()}", err=True)
            sys.exit(2)
        scenario = scenario.model_copy(
            update={"recorded": calls, "start": recorded.date(), "days": 1}
        )
        click.echo(f"replaying {len(calls)} calls recorded on {recorded.date()}")
    with click.progressbar(length=1000, label="simulating", show_eta=True) as bar:
        done = [0]

        def moved(share: float) -> None:
            bar.update(int(share * 1000) - done[0])
            done[0] = int(share * 1000)

        result = simulate_on_own_redis(scenario, routing_rules, moved)
    for path in write_all(result, out):
        click.echo(f"wrote {path}")
    total = result.days[-1].report.total if len(result.days) == 1 else None
    if total is not None:
        click.echo(
            f"offered {total.offered}, answered within 60 s "
            f"{percent(total.service_level)}, abandoned after 30 s "
            f"{percent(total.abandoned_after_30s_rate)}, priority 1 longest "
            f"{secs(total.p1_longest_time_to_reach)}"
        )
    click.echo(f"{result.speed:.0f} simulated seconds a second ({result.wall_seconds:.0f} s)")


@main.command()
@click.option("--demand", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--staffing",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Handle and wrap-up times, answering, missed offers (its shifts are not used).",
)
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), help="The day (London).")
@click.option("--hours", type=click.IntRange(1, 24), help="Of the day, from midnight (24: all).")
@click.option("--seed", type=int, help="The same seed, the same answer.")
@click.option("--factor", type=click.FloatRange(0.01, 20), help="Demand times this (1.6, 3.5).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/staffing"),
    show_default=True,
)
def staffing(
    demand: Path | None,
    staffing: Path | None,
    start: datetime | None,
    hours: int | None,
    seed: int | None,
    factor: float | None,
    out: Path,
) -> None:
    """The fewest handlers an hour that meet the NHS targets for a day's demand: the Erlang A
    formula's answer, confirmed by simulating the day (a handler added to any hour that missed,
    until none does). Writes rota.yaml (for `lifeline simulate --staffing`) and the confirming
    run's result.json, hours.csv and report.html to OUT."""
    try:
        scenario = scenario_from(
            demand, staffing, None, start=start.date() if start else None, hours=hours, seed=seed
        )
        if factor is not None:
            scenario = scenario.model_copy(
                update={"demand": scenario.demand.model_copy(update={"factor": factor})}
            )
        out.mkdir(parents=True, exist_ok=True)
    except (ValueError, OSError) as error:
        click.echo(f"lifeline staffing: {error}", err=True)
        sys.exit(2)

    def said(rounds: int, missed: list[int]) -> None:
        hours = ", ".join(f"{hour:02d}h" for hour in missed) or "none"
        click.echo(f"simulation {rounds}: hours missing a target: {hours}")

    answer = fewest_handlers(scenario, said)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rota.yaml").write_text(as_yaml(answer.staffing))
    for path in [out / "rota.yaml", *write_all(answer.result, out)]:
        click.echo(f"wrote {path}")
    click.echo("hour  Erlang A  confirmed")  # the hours simulated; the rest keep the formula's
    for hour, (first, last) in enumerate(zip(answer.erlang, answer.handlers, strict=True)):
        click.echo(f"{hour:02d}h   {first:8d}  {last:9d}")
    if not answer.confirmed:
        click.echo("not confirmed: some hours still missed a target after the last simulation")
        sys.exit(1)


@main.group()
def token() -> None:
    """API tokens (bearer tokens with a role)."""


@token.command("create")
@click.option("--account", required=True, help="The account the token belongs to.")
@click.option(
    "--role",
    type=click.Choice([role.value for role in Role]),
    default=None,
    help="At most the account's own role; the account's by default.",
)
@click.option("--name", default=None, help="Who or what the token is for.")
@click.option("--handler", "handler_id", default="", help="For a handler token: their id.")
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True, max=3650),
    default=LIFETIME_DAYS,
    show_default=True,
    help="Days until it expires.",
)
@click.option(
    "--scope",
    "scopes",
    type=click.Choice([scope.value for scope in Scope]),
    multiple=True,
    help="What it may do beyond its role: `rules` activates rule sets (none by default).",
)
@fails_clearly
def token_create(
    account: str,
    role: str | None,
    name: str | None,
    handler_id: str,
    days: float,
    scopes: tuple[str, ...],
) -> None:
    """Create a token; it is printed once, alone on the last line, and not kept."""
    settings = load_settings()
    given = frozenset(Scope(scope) for scope in scopes)

    async def create(client: redis.asyncio.Redis) -> tuple[str, str, Role]:
        user = await Accounts(client).get(account)
        if user is None:
            no_account(account)
        if user.disabled:
            raise click.UsageError(f"the account {account} is disabled")
        wanted = Role(role) if role else user.role
        if RANKS.index(wanted) > RANKS.index(user.role):
            raise click.UsageError(f"{account} is a {user.role}: their tokens may not be {wanted}")
        handler = handler_id or (user.handler if wanted is Role.HANDLER else "")
        if wanted is Role.HANDLER and not handler:
            raise click.UsageError(
                "a handler token acts for one handler: give --handler <their id>"
            )
        if given and wanted not in SCOPED_ROLES:
            raise click.UsageError("the rules scope is for supervisor and admin tokens")
        label = name or f"{wanted} token of {account}"
        now = time.time()
        token_id, secret = await Tokens(client).create(
            label,
            wanted,
            now,
            handler=handler,
            account=account,
            lifetime_days=days,
            scopes=given,
        )
        return token_id, secret, wanted

    token_id, secret, made = with_redis(settings, create)
    scoped = "".join(f", scope {scope}" for scope in sorted(given))
    click.echo(
        f"token {token_id} ({made}, of {account}{scoped}, for {days:g} days) created; keep it "
        "now, it is not shown again:"
    )
    click.echo(secret)


def day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


@token.command("list")
@fails_clearly
def token_list() -> None:
    """Every token: its id, account, role, name, and when it was made and expires."""
    settings = load_settings()

    async def listed(client: redis.asyncio.Redis) -> list[TokenInfo]:
        return await Tokens(client).all()

    now = time.time()
    for info in with_redis(settings, listed):
        refused = info.refused(now)
        expiry = day(info.expires) + (f" ({refused})" if refused else "")
        scoped = "".join(f"  scope {scope}" for scope in info.scopes)
        click.echo(
            f"{info.id}  {info.account or '-'}  {info.role}  made {day(info.created)}  "
            f"expires {expiry}{scoped}  {info.name}"
        )


@token.command("revoke")
@click.argument("token_id")
@fails_clearly
def token_revoke(token_id: str) -> None:
    """Revoke a token by its id."""
    settings = load_settings()

    async def revoke() -> bool:
        client = async_client(settings.redis)
        try:
            return await Tokens(client).revoke(token_id)
        finally:
            await client.aclose()

    if not asyncio.run(revoke()):
        click.echo(f"lifeline: no token {token_id}", err=True)
        sys.exit(1)
    click.echo(f"token {token_id} revoked")


@main.group()
def drill() -> None:
    """Rehearse failures against a local run (`make run`)."""


@drill.command("outage")
@click.option(
    "--minutes",
    type=click.FloatRange(0.05, 120),
    default=2.0,
    show_default=True,
    help="How long the clinical system is kept down (longer if the calls take longer).",
)
@click.option("--clinical-control", default=None, help="The clinical stub's control URL.")
@fails_clearly
def drill_outage(minutes: float, clinical_control: str | None) -> None:
    """Take the clinical system down, wait for degraded mode, place calls of every kind, bring
    it back, wait for the journal to be replayed, and report what happened."""
    settings = load_settings()
    try:
        report = asyncio.run(drills.run_drill(settings, minutes, sys.stdout, clinical_control))
    except drills.NotDegraded as error:
        click.echo(f"lifeline: {error}", err=True)
        sys.exit(1)
    except drills.DrillError as error:
        click.echo(f"lifeline: {error}", err=True)
        sys.exit(2)
    click.echo("\n".join(report.lines()))
    sys.exit(0 if report.degraded_after is not None and report.journal.get("pending") == 0 else 1)


def with_redis(settings: Settings, work: Callable[[redis.asyncio.Redis], Awaitable[R]]) -> R:
    async def run() -> R:
        client = async_client(settings.redis)
        try:
            return await work(client)
        finally:
            await client.aclose()

    return asyncio.run(run())


@main.group()
def keys() -> None:
    """Redis's keys as Lifeline names them."""


@keys.command("migrate")
@fails_clearly
def keys_migrate() -> None:
    """Move the keys of an older Lifeline (`ll:...`) to today's names (`{ll}:...`). Run it once,
    with every Lifeline process stopped; running it again moves nothing more."""
    done = with_redis(configured(), key_migration.migrate)
    click.echo(f"{done.moved} keys moved")
    if done.kept:
        click.echo(f"{len(done.kept)} left as they were, their new name taken:", err=True)
        for key in done.kept[:20]:
            click.echo(f"  {key}", err=True)
        sys.exit(1)


@main.group()
def user() -> None:
    """Console accounts: who may sign in at /login, with which role."""


@user.command("add")
@click.option(
    "--username",
    required=True,
    help="2-32 lower-case letters, digits, dots, dashes and underscores.",
)
@click.option("--role", type=click.Choice([role.value for role in Role]), required=True)
@click.option("--name", default=None, help="The person's name, as shown in the consoles.")
@click.option(
    "--handler",
    "handler_id",
    default=None,
    help="The handler id the account takes calls as (for handlers, the username by default).",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@fails_clearly
def user_add(
    username: str, role: str, name: str | None, handler_id: str | None, password_stdin: bool
) -> None:
    """Add an account. The password is asked for (or read from stdin), never an argument."""
    settings = load_settings()
    password = read_password(password_stdin)
    if handler_id is None:
        handler_id = username if role == Role.HANDLER else ""
    try:
        new = NewUser(
            username=username,
            name=name or username,
            role=Role(role),
            handler=handler_id,
            password=SecretStr(password),
        )
    except ValidationError as error:
        refuse(error)
    try:
        added = with_redis(settings, lambda client: Accounts(client).add(new, time.time()))
    except AccountExists as error:
        click.echo(f"lifeline: {error}", err=True)
        sys.exit(1)
    click.echo(
        f"account {added.username} ({added.role}) added; sign in at {settings.public_url('/login')}"
    )


def read_password(from_stdin: bool) -> str:
    """Never an argument (it would be in the shell's history and the process list)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def refuse(error: ValidationError) -> NoReturn:
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "account"
        click.echo(f"lifeline: {where}: {item['msg']}", err=True)
    sys.exit(2)


@user.command("list")
@fails_clearly
def user_list() -> None:
    """List the accounts."""
    users: list[User] = with_redis(load_settings(), lambda client: Accounts(client).all())
    for each in users:
        state = "disabled" if each.disabled else "enabled"
        calls = f", takes calls as {each.handler}" if each.handler else ""
        click.echo(f"{each.username}\t{each.role}\t{state}\t{each.name}{calls}")


@user.command("disable")
@click.argument("username")
@fails_clearly
def user_disable(username: str) -> None:
    """Disable an account and end its sessions at once."""
    settings = load_settings()

    async def disable(client: redis.asyncio.Redis) -> bool:
        if not await Accounts(client).disable(username):
            return False
        await Sessions.of(client, settings).end_all(username)
        return True

    if not with_redis(settings, disable):
        no_account(username)
    click.echo(f"account {username} disabled and signed out")


@user.command("enable")
@click.argument("username")
@fails_clearly
def user_enable(username: str) -> None:
    """Let a disabled account sign in again."""
    if not with_redis(load_settings(), lambda client: Accounts(client).enable(username)):
        no_account(username)
    click.echo(f"account {username} enabled")


@user.command("unlock")
@click.argument("username")
@fails_clearly
def user_unlock(username: str) -> None:
    """Forget the account's failed sign-ins, so that it may sign in at once; the password stays."""
    settings = load_settings()

    async def unlock(client: redis.asyncio.Redis) -> bool:
        if await Accounts(client).get(username) is None:
            return False
        await LoginLimiter(client).clear(username)
        await LoginLimiter(client).clear(code_attempts(username))
        return True

    if not with_redis(settings, unlock):
        no_account(username)
    click.echo(f"account {username} unlocked: its failed sign-ins are forgotten")


@user.command("password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@fails_clearly
def user_password(username: str, password_stdin: bool) -> None:
    """Set a new password: the account's sessions end, and its failed sign-ins are forgotten."""
    settings = load_settings()
    password = SecretStr(read_password(password_stdin))

    async def reset(client: redis.asyncio.Redis) -> bool:
        if not await Accounts(client).set_password(username, password):
            return False
        await Sessions.of(client, settings).end_all(username)
        await LoginLimiter(client).clear(username)
        await LoginLimiter(client).clear(code_attempts(username))
        return True

    try:
        found = with_redis(settings, reset)
    except ValidationError as error:
        refuse(error)
    if not found:
        no_account(username)
    click.echo(f"password of {username} set; its sessions have ended")


@user.command("reset-mfa")
@click.argument("username")
@fails_clearly
def user_reset_mfa(username: str) -> None:
    """Remove an account's second factor (a lost phone): its sessions end, its recovery codes
    are void, and it sets up a new one at its next sign-in."""
    settings = load_settings()

    async def reset(client: redis.asyncio.Redis) -> bool:
        accounts = Accounts(client)
        if await accounts.get(username) is None:
            return False
        await SecondFactors.of(accounts).reset(username)
        await Sessions.of(client, settings).end_all(username)
        await LoginLimiter(client).clear(code_attempts(username))
        return True

    if not with_redis(settings, reset):
        no_account(username)
    click.echo(
        f"second factor of {username} removed; its sessions have ended; it sets up a new one at "
        "its next sign-in"
    )


@user.command("totp")
@click.argument("username")
@fails_clearly
def user_totp(username: str) -> None:
    """Print an account's current sign-in code: for a local run only (`make run`'s accounts),
    where nobody has the app that holds the secret."""
    settings = load_settings()
    if settings.public_base_url.host not in LOCAL_HOSTS:
        click.echo(
            "lifeline: `user totp` is only for a local run (PUBLIC_BASE_URL on this machine); "
            "elsewhere the code comes from the person's own authenticator app",
            err=True,
        )
        sys.exit(2)

    async def secret_of(client: redis.asyncio.Redis) -> str | None:
        accounts = Accounts(client)
        if await accounts.get(username) is None:
            no_account(username)
        return await SecondFactors.of(accounts).secret(username)

    secret = with_redis(settings, secret_of)
    if not secret:
        click.echo(f"lifeline: {username} has no second factor yet", err=True)
        sys.exit(1)
    click.echo(code_at(secret, time.time()))


def no_account(username: str) -> NoReturn:
    click.echo(f"lifeline: no account {username}", err=True)
    sys.exit(1)


@main.command()
@fails_clearly
def check() -> None:
    """Check the settings, the prompt catalogue and the default rules, and say what is wrong."""
    load_settings()
    load_catalogue()
    default_rules()
    click.echo("settings, prompts and rules are all valid")
