"""The CLI reads well: full help texts, colour on a terminal, plain stable text elsewhere."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from sentinel_assets.cli.main import main
from sentinel_assets_tests.demo_project import make_demo

SENTINEL = str(Path(sys.executable).parent / "sentinel")
READS_SPECS = ("status", "history", "silence", "unsilence", "silences", "run")


def test_help_lists_every_command_with_its_whole_summary():
    text = CliRunner().invoke(main, ["--help"]).output
    commands = text.split("Commands:")[1]
    assert "..." not in commands
    assert "List silences: id, target, expiry, reason and the alerts each" in text


def test_every_output_option_says_what_it_prints_and_every_spec_reader_takes_specs():
    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        for param in command.params:
            if param.name == "output":
                assert param.help and "json" in param.help, name
        if name in READS_SPECS:
            assert any(p.name == "specs_dir" for p in command.params), name


def _run_in_terminal(args: list[str], env: dict) -> str:
    """Run the CLI with a pseudo-terminal as stdout, as a person at a terminal sees it."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, stdout=follower, stderr=subprocess.DEVNULL, env=env)
    os.close(follower)
    seen = _read_terminal(leader)
    proc.wait(timeout=60)
    return seen


def _read_terminal(leader: int) -> str:
    """Everything written to a pseudo-terminal until its last writer closed it; closes it."""
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # Linux: EIO once no process holds the other end
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return b"".join(chunks).decode()


def test_status_is_in_colour_on_a_terminal_and_plain_in_a_pipe(tmp_path, monkeypatch, dagster_home,
                                                               outbox, state_url):
    make_demo(tmp_path, monkeypatch)
    CliRunner().invoke(main, ["run", "orders_revenue_low"], catch_exceptions=False)
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160"}
    env.pop("NO_COLOR", None)
    coloured = _run_in_terminal([SENTINEL, "status"], env)
    assert "\x1b[" in coloured and "FIRING" in coloured
    piped = subprocess.run([SENTINEL, "status"], env=env, capture_output=True, text=True)
    assert "\x1b[" not in piped.stdout and "FIRING" in piped.stdout
    assert piped.stdout.splitlines()[0].split()[:2] == ["ALERT", "STATE"]
    no_colour = _run_in_terminal([SENTINEL, "status"], {**env, "NO_COLOR": "1"})
    assert "\x1b[" not in no_colour


def test_run_prints_a_link_to_each_run_and_the_notice_carries_it(tmp_path, monkeypatch,
                                                                 dagster_home, outbox, state_url):
    import json

    make_demo(tmp_path, monkeypatch)
    monkeypatch.setenv("SENTINEL_WEBSERVER_URL", "http://localhost:3000")
    out = CliRunner().invoke(main, ["run", "orders_revenue_low"], catch_exceptions=False).output
    link = out.split("[run ")[1].split("]")[0]
    assert link.startswith("http://localhost:3000/runs/") and len(link.rsplit("/", 1)[1]) == 36
    notice = json.loads(outbox.read_text().splitlines()[0])
    assert notice["run_url"] == link


def test_run_shows_progress_on_a_terminal(tmp_path, monkeypatch, dagster_home, outbox, state_url):
    make_demo(tmp_path, monkeypatch)
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([SENTINEL, "run", "orders_revenue_low", "unshipped_orders"],
                            stdout=subprocess.PIPE, stderr=follower, env=env)
    os.close(follower)
    out, _ = proc.communicate(timeout=120)
    assert "evaluating" in _read_terminal(leader)  # the bar, on the terminal (stderr)
    assert b"evaluating" not in out and b"orders_revenue_low: ALERT" in out
