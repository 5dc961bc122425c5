"""Take the README's screenshots of the Dagster UI, in headless Chromium, against `make dev`.

    make demo && make dev &                       # the demo's runs, the UI on :3000
    .venv/bin/pip install playwright               # drives Debian's chromium; no browser download
    .venv/bin/python scripts/screenshots.py       # writes docs/images/*.png

Options: ``--url`` (default http://localhost:3000), ``--out`` (default docs/images),
``--chromium`` (default /usr/bin/chromium, Debian's ``chromium`` package). The pages: an alert's
history on its asset check, the check evaluation in the run of a firing alert (red: it did not pass), and the partitions page of the windowed
alert, from which past windows are backfilled.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCATION = "sentinel_assets"

FIRING_RUN = """
query { runsOrError(filter: {pipelineName: "orders_revenue_low",
                             tags: [{key: "sentinel/status", value: "ALERT"}]}, limit: 1) {
  ... on Runs { results { runId } } } }
"""


def _graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


def pages(url: str) -> dict[str, str]:
    """File name -> page of the UI."""
    runs = _graphql(url, FIRING_RUN)["runsOrError"]["results"]
    if not runs:
        sys.exit("no firing run of orders_revenue_low in this instance: run `make demo` first")
    return {
        "alert-history.png": f"{url}/assets/sentinel/demo?view=checks&checkDetail=orders_revenue_low",
        "firing-run.png": f"{url}/runs/{runs[0]['runId']}?logs=type%3AASSET_CHECK_EVALUATION",
        "backfill.png": f"{url}/locations/{LOCATION}/jobs/daily_order_count/partitions",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:3000")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 860})
        for name, address in pages(args.url.rstrip("/")).items():
            page.goto(address, wait_until="networkidle")
            page.wait_for_timeout(2000)
            skip = page.get_by_role("button", name="Skip")  # Dagster's first-visit dialog
            if skip.count():
                skip.first.click()
                page.wait_for_timeout(500)
            page.screenshot(path=str(args.out / name))
            print(f"{args.out / name}: {address}")  # noqa: T201 - a command-line script
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
