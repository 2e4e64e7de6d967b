"""Azure Functions v2 entry point: registers one blueprint per module of functions/."""

import azure.functions as func

from functions import catalog, http_operations, http_recovery_points, http_sessions, http_vaults
from functions import metering, replication, retention

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for blueprint_module in (
    http_vaults, http_recovery_points, http_sessions, http_operations,
    catalog, replication, metering, retention,
):
    app.register_functions(blueprint_module.bp)
