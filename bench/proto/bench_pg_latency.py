"""Raw PostgreSQL latency on this machine: connect, and INSERT+COMMIT, over TCP and unix socket.
  python bench_pg_latency.py
"""
import json
import time

import psycopg2

DSNS = {"tcp": "host=127.0.0.1 port=5432 user=postgres dbname=proto_bench",
        "socket": "host=/var/run/postgresql user=postgres dbname=proto_bench"}
out = {}
for name, dsn in DSNS.items():
    n = 100
    t = time.perf_counter()
    for _ in range(n):
        c = psycopg2.connect(dsn)
        c.close()
    out[f"{name}_connect_ms"] = round((time.perf_counter() - t) / n * 1000, 2)
    c = psycopg2.connect(dsn)
    cur = c.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS lat_probe (id serial primary key, body text)")
    c.commit()
    t = time.perf_counter()
    for _ in range(n):
        cur.execute("INSERT INTO lat_probe (body) VALUES (%s)", ("x" * 500,))
        c.commit()
    out[f"{name}_insert_commit_ms"] = round((time.perf_counter() - t) / n * 1000, 2)
    t = time.perf_counter()
    for _ in range(n):
        cur.execute("SELECT 1")
        cur.fetchone()
    out[f"{name}_select1_ms"] = round((time.perf_counter() - t) / n * 1000, 3)
    cur.execute("SHOW synchronous_commit"); out["synchronous_commit"] = cur.fetchone()[0]
    cur.execute("SHOW fsync"); out["fsync"] = cur.fetchone()[0]
    cur.execute("DROP TABLE lat_probe"); c.commit()
    c.close()
print(json.dumps(out))
