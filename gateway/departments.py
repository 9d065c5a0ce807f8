"""The code connectors this gateway knows, built from settings with one pooled client each."""

from __future__ import annotations

from connectors.base import Connector
from connectors.http import make_client
from gateway.router import ConnectorSet
from gateway.settings import Settings


def build_connectors(settings: Settings) -> ConnectorSet:
    from connectors.citymgmt import CityManagementConnector
    from connectors.environment import EnvironmentConnector
    from connectors.housing import HousingConnector
    from connectors.transport import TransportConnector
    from connectors.water import WaterConnector

    timeout = settings.upstream_timeout_s
    regions = settings.region_codes

    def client(department: str):  # type: ignore[no-untyped-def]
        return make_client(settings.department_url(department), timeout_s=timeout, transport=settings.http_transport)

    connectors: list[Connector] = [
        WaterConnector(client("water"), regions=regions, timeout_s=timeout),
        TransportConnector(client("transport"), regions=regions, timeout_s=timeout),
        EnvironmentConnector(client("environment"), regions=regions, timeout_s=timeout),
        HousingConnector(client("housing"), regions=regions, timeout_s=timeout,
                         client_id=settings.housing_client_id, client_secret=settings.housing_client_secret),
        CityManagementConnector(client("citymgmt"), regions=regions, timeout_s=timeout),
    ]
    return ConnectorSet(connectors)
