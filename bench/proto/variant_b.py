"""Variant B: one external asset per alert, one check each."""
import os

from variant_checks import build_defs as _b


def build_defs(n, jobs_mode=None):
    return _b(n, per_alert=True, jobs_mode=jobs_mode or os.environ.get("PROTO_JOBS", "perdbcron"))


defs = build_defs(int(os.environ.get("PROTO_N", "100"))) if os.environ.get("PROTO_BUILD_AT_IMPORT") else None
