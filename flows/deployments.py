"""The deployments a ``duban worker`` serves: one for each flow in :data:`flows.dispatch.FLOWS`.

Every deployment has the same name, :data:`DEPLOYMENT`, so the scheduler finds a flow's
deployment from the flow alone (``chase-units/duban``). The deployments have no schedule
(``duban run`` decides when jobs fire) and no work pool: the workers poll the server for the
flow runs created on them, and the server gives each flow run to one worker.
"""

from typing import Any

from flows.dispatch import FLOWS, load_flow

#: The name of every duban deployment.
DEPLOYMENT = "duban"


def deployment_name(name: str) -> str:
    """``flow name/deployment name`` of the flow registered under ``name`` (e.g. "chase")."""
    return f"{load_flow(name).name}/{DEPLOYMENT}"


def deployments() -> list[Any]:
    """A Prefect ``RunnerDeployment`` for each registered flow, ready to serve."""
    from prefect.types.entrypoint import EntrypointType

    return [
        load_flow(name).to_deployment(
            name=DEPLOYMENT,
            description=f"duban's {name!r} flow, started by `duban run` (see docs/deploy.md)",
            tags=["duban"],
            # Workers import the flow from the installed package, wherever they run from.
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        for name in FLOWS
    ]
