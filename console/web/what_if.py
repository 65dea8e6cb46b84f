"""The rules page's what-if: a version not yet active tried on a simulated day beside the active
one (a job on the simulations pool), then the two side by side, figure by figure, with what
the draft would miss highlighted."""

from __future__ import annotations

from pydantic import ConfigDict
from starlette.responses import Response

from console.convertors import VERSION
from console.web.forms import parse
from console.web.pages import Page, Problem, View
from routing.simulations import RunStatus, Simulations, WhatIf

REFRESH_SECONDS = 2  # the page looks again while the run is under way


class WhatIfForm(WhatIf):
    """The API's request, from the rules page's form (whose other fields it leaves)."""

    model_config = ConfigDict(extra="ignore")


async def simulate(page: Page) -> Response:
    number = int(page.request.path_params["number"])
    await page.floor.rulebook.get(number)  # an unknown one is a 404
    form, errors = parse(WhatIfForm, page.form)
    if form is None:
        return await page.done(
            f"Not simulated: {'; '.join(errors.values())}", f"/console/rules/versions/{number}"
        )
    asked = WhatIf(**form.model_dump()).model_dump(mode="json")
    run = await Simulations(page.floor.redis).create(number, page.user.username, asked, page.now)
    await page.console.jobs.off_loop(page.console.jobs.what_if, run.id)
    await page.audit("rules.simulate", f"version {number}")
    return await page.done(
        f"Version {number} is being tried on a simulated day.", f"/console/simulations/{run.id}"
    )


async def result(page: Page) -> Response:
    simulation_id = page.request.path_params["simulation_id"]
    run = await Simulations(page.floor.redis).get(simulation_id, page.now)
    if run is None:
        raise Problem(404, "No such what-if run (they are kept a month).")
    under_way = run.status in (RunStatus.QUEUED, RunStatus.RUNNING)
    return await page.render(
        "what_if.html",
        title=f"What if version {run.version} were active",
        run=run,
        comparison=run.comparison,
        refresh=REFRESH_SECONDS if under_way else 0,
    )


VIEWS = [
    View(f"/console/rules/versions/{VERSION}/simulate", simulate, method="POST"),
    View("/console/simulations/{simulation_id}", result),
]
