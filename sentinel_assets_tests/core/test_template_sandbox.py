"""Notice templates render in a sandbox with limits: ranges, sizes, steps, output and time.

Each test runs with the process's address space limited to 1 GiB more than it uses, so a limit
that stopped working fails the test with a MemoryError instead of swapping the machine.
"""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from sentinel_assets.core import template_sandbox
from sentinel_assets.core.messages import environment, render
from sentinel_assets.core.template_sandbox import (
    MAX_OUTPUT,
    TemplateLimitError,
    check_source,
    render_bounded,
)
from sentinel_assets_tests.helpers import notice_context


@pytest.fixture(autouse=True)
def _address_space_budget():
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    status = Path("/proc/self/status").read_text()
    used_kib = int(next(line.split()[1] for line in status.splitlines()
                        if line.startswith("VmSize:")))
    limit = used_kib * 1024 + (1 << 30)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run(source: str, html: bool = False, **variables) -> str:
    return render_bounded(environment(html).from_string(source),
                          {"alert": "orders", "rows": [{"status": "ALERT"}], **variables})


def refused(source: str, **variables) -> str:
    with pytest.raises(TemplateLimitError) as caught:
        run(source, **variables)
    return str(caught.value)


def test_ordinary_templates_render_as_before():
    source = ("{{ alert|upper }} {% for r in rows %}{{ r.status }}{% endfor %} "
              "{{ '%s-%d' % ('a', 3) }} {{ '{}!'.format(alert) }} {{ ['a', 'b']|join(',') }} "
              "{{ 3 * 4 }} {{ 'ab' * 3 }} {{ 'x'|center(5) }}|{{ 2 ** 10 }} "
              "{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}"
              "{% endfor %}{{ ns.n }}")
    assert run(source) == "ORDERS ALERT a-3 orders! a,b 12 ababab   x  |1024 3"


def test_the_two_template_bombs_of_the_issue_are_refused():
    assert "range() of 100,000 items; at most 10,000" in refused(
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}")
    assert "the repeated value would be longer than 65,536 characters" in refused(
        "{{ 'x' * 500000000 }}")


def test_a_range_has_at_most_ten_thousand_items():
    assert run("{{ range(10000)|length }}") == "10000"
    assert "range() of 10,001 items" in refused("{{ range(10001)|length }}")


def test_loops_without_output_run_out_of_steps():
    assert "more than 100,000 steps" in refused(
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}")


def test_recursive_loops_count_their_steps_too():
    assert "more than 100,000 steps" in refused(
        "{% for i in range(10) recursive %}{% if loop.depth < 4 %}{{ loop(range(10000)) }}"
        "{% endif %}{% endfor %}")


def test_the_output_is_at_most_64_kib():
    assert len(run("{% for i in range(6553) %}0123456789{% endfor %}")) == 65_530
    assert f"longer than {MAX_OUTPUT:,} characters" in refused(
        "{% for i in range(6554) %}0123456789{% endfor %}")


@pytest.mark.parametrize("source", [
    "{% set s %}{% for i in range(10000) %}{{ 'y' * 1000 }}{% endfor %}{% endset %}{{ s|length }}",
    "{% macro m() %}{% for i in range(10000) %}" + "y" * 1000 + "{% endfor %}{% endmacro %}"
    "{{ m()|length }}",
], ids=["set-block", "macro"])
def test_text_built_and_never_output_counts_too(source):
    assert "produced more than 1,000,000 characters" in refused(source)


@pytest.mark.parametrize("source", [
    "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}",
    "{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% endif %}{% endmacro %}{{ f('x', 40) }}",
], ids=["namespace", "macro-recursion"])
def test_a_value_cannot_double_itself_past_the_limit(source):
    assert "would be longer than 65,536 characters" in refused(source)


@pytest.mark.parametrize("source", [
    "{{ 'x'|center(999999999) }}",
    "{{ '%0999999999d'|format(1) }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ ('%s' * 1000)|format(big) }}",
    "{{ ('{0}' * 1000).format(big) }}",
    "{{ 'x'.ljust(999999999) }}",
    "{{ 'x'.zfill(999999999) }}",
    "{{ ('\t' * 60000).expandtabs(60000) }}",
    "{{ big|replace('x', big) }}",
    "{{ big.replace('', big) }}",
    "{{ range(10000)|join(big) }}",
    "{{ big.join(range(10000)|map('string')) }}",
    "{{ ([big] * 10000)|join }}",
    "{{ big|indent(big) }}",
    "{{ big|wordwrap(1, wrapstring=big) }}",
    "{{ range(10)|slice(999999999)|list|length }}",
    "{{ [1]|batch(999999999, 'x')|list|length }}",
    "{{ range(9000)|list|tojson(indent=1000) }}",
    "{{ (big + big)|length }}",
    "{{ 10 ** 100000 }}",
], ids=lambda source: source[:40])
def test_operations_that_repeat_text_are_checked_before_they_run(source):
    message = refused(source, big="x" * 60_000)
    assert "would be longer than 65,536 characters" in message or "bits" in message


def test_what_a_notice_does_not_need_is_not_available():
    with pytest.raises(Exception, match="lipsum"):
        run("{{ lipsum(100000) }}")
    with pytest.raises(Exception, match="unsafe"):
        run("{{ rows.append(1) }}")
    assert "translate is not available" in refused("{{ 'x'.translate({120: 'y' * 60000}) }}")


def test_a_render_stops_at_its_deadline(monkeypatch):
    monkeypatch.setattr(template_sandbox, "MAX_SECONDS", -1.0)  # already past
    assert "took longer than -1 seconds" in refused("{% for i in range(3) %}{% endfor %}")


def test_a_template_source_has_at_most_64_kib():
    check_source("x" * 65_536)
    with pytest.raises(TemplateLimitError, match="65,537 characters long"):
        check_source("x" * 65_537)


@pytest.mark.parametrize("template", [
    "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "{{ 'x' * 500000000 }}",
    "{% for i in range(6554) %}0123456789{% endfor %}",
    "x" * 70_000,
], ids=["ranges", "string-times", "output", "source"])
def test_at_send_time_a_template_past_a_limit_falls_back_to_the_default(template):
    message = render(notice_context(templates={"body": template}), "webhook")
    assert message.body.startswith("orders_revenue_low is firing")
    assert len(message.problems) == 1
    assert "alert templates.body failed (TemplateLimitError" in message.problems[0]
    assert "the default was used" in message.problems[0]
