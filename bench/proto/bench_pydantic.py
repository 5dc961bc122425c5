"""pydantic validation of N small alert dicts vs loading a cached pickle / JSON of them.

  python bench_pydantic.py [N]
"""
import json
import os
import pickle
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pydantic  # noqa: E402
from common import gen_alerts  # noqa: E402


class Alert(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    name: str = pydantic.Field(pattern=r"^[a-z][a-z0-9_]*$")
    database: str
    cron: str
    sql: str
    threshold: float
    operator: str
    severity: str
    description: str = ""
    owner: str | None = None


def best(fn, rep=5):
    ts = []
    for _ in range(rep):
        t = time.perf_counter()
        r = fn()
        ts.append(time.perf_counter() - t)
    return min(ts), r


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    dicts = gen_alerts(n)
    ta = pydantic.TypeAdapter(list[Alert])
    out = {"n": n}
    out["validate_models_s"], models = best(lambda: [Alert.model_validate(d) for d in dicts])
    out["validate_typeadapter_s"], _ = best(lambda: ta.validate_python(dicts))
    js = ta.dump_json(models)
    out["validate_json_s"], _ = best(lambda: ta.validate_json(js))
    d = tempfile.mkdtemp()
    p_pickle, p_json = os.path.join(d, "a.pickle"), os.path.join(d, "a.json")
    with open(p_pickle, "wb") as f:
        pickle.dump(models, f, protocol=pickle.HIGHEST_PROTOCOL)
    with open(p_json, "wb") as f:
        f.write(js)

    def load_pickle():
        with open(p_pickle, "rb") as f:
            return pickle.load(f)

    def load_json_plain():
        with open(p_json, "rb") as f:
            return json.loads(f.read())

    def load_construct():
        with open(p_json, "rb") as f:
            return [Alert.model_construct(**x) for x in json.loads(f.read())]

    out["load_pickle_of_models_s"], _ = best(load_pickle)
    out["load_json_plain_dicts_s"], _ = best(load_json_plain)
    out["load_json_model_construct_s"], _ = best(load_construct)
    out = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
