"""The code connectors this gateway knows, built from settings with one pooled client each, and the fetch hooks every
department client gets (the registry's connectors too): tracing, then each plugin's ``on_fetch``."""

from __future__ import annotations

from collections.abc import Sequence

from connectors.base import Connector
from connectors.client import DepartmentClient, FetchHook
from gateway.plugins import Plugin
from gateway.router import ConnectorSet
from gateway.settings import Settings
from gateway.telemetry.outgoing import trace_fetch


def fetch_hooks(plugins: Sequence[Plugin]) -> tuple[FetchHook, ...]:
    """The ``http.fetch`` span outermost (the plugins' work inside it shows in its time), then the plugins' hooks
    in the plugins' order; plugins that do not override ``on_fetch`` add nothing."""
    return (trace_fetch, *(plugin.on_fetch for plugin in plugins if type(plugin).on_fetch is not Plugin.on_fetch))


def build_connectors(settings: Settings, plugins: Sequence[Plugin] = ()) -> ConnectorSet:
    from connectors.citymgmt import CityManagementConnector
    from connectors.environment import EnvironmentConnector
    from connectors.housing import HousingConnector
    from connectors.transport import TransportConnector
    from connectors.water import WaterConnector

    timeout = settings.upstream_timeout_s
    regions = settings.region_codes
    hooks = fetch_hooks(plugins)

    def client(department: str) -> DepartmentClient:
        return DepartmentClient(settings.department_url(department), department=department, timeout_s=timeout,
                                lean=settings.http_transport == "lean", hooks=hooks)

    connectors: list[Connector] = [
        WaterConnector(client("water"), regions=regions, timeout_s=timeout),
        TransportConnector(client("transport"), regions=regions, timeout_s=timeout),
        EnvironmentConnector(client("environment"), regions=regions, timeout_s=timeout),
        HousingConnector(client("housing"), regions=regions, timeout_s=timeout,
                         client_id=settings.housing_client_id, client_secret=settings.housing_client_secret),
        CityManagementConnector(client("citymgmt"), regions=regions, timeout_s=timeout),
    ]
    return ConnectorSet(connectors)
