"""The host project's own asset, job, schedule and resource (names a sentinel must not take)."""

import dagster as dg


class Warehouse(dg.ConfigurableResource):
    url: str = "sqlite:///host.db"


@dg.asset(key=["analytics", "orders"])
def orders(warehouse: Warehouse) -> int:
    return 1


orders_job = dg.define_asset_job("orders_job", selection=[orders])
orders_schedule = dg.ScheduleDefinition(name="orders_schedule", job=orders_job, cron_schedule="0 3 * * *")

defs = dg.Definitions(
    assets=[orders],
    jobs=[orders_job],
    schedules=[orders_schedule],
    resources={"warehouse": Warehouse()},
)
