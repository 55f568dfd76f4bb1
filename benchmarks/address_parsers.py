"""Benchmark: the address parser (citylake.jobs.address.parse) against the existing Chinese address
parsers, scored per level against the synthetic city's truth.

Generates a city of N persons (default 20,000) into SQLite, reads every free-text address column of
every department table (公安 CZRK.HJDZ 户籍地址, 民政 dbjz_cy.jtzz 家庭住址, 市场监管 QYDJ.ZS 住所,
自然资源 BDCDJ.ZL 坐落, 教育 xj_xsjbxx.jtzz 家庭住址), ties each record to its true address through
``record_truth`` and scores each *distinct* written text once, split into the departments' standard
form and the injected ``address_variant`` defects (citylake.synthcity.defects: no province/city, 栋,
3-2-501, full-width, 济南 + #楼, Chinese-numeral 楼栋/单元). 楼栋/单元 of a commercial address are
not written in its text (…文化大厦318室), so the parser is expected to leave them empty there.

The existing parsers only resolve the division levels, so they are scored on 区县 (their code, or
their district name where they give no code) and 街道 (jionlp only: cpca-new and addressparser stop
at the district). Speed is distinct texts per second on one core, import time excluded.

Measured on this machine (2 cores shared with other work, so speeds are noisy: compare them within
a run), city of 20,000 persons, seed 7: 32,016 address cells, 17,706 distinct texts (11,462 in the
departments' standard form, 6,244 variants); accuracy in % of distinct texts, standard / variant:

| parser | 区县 | 街道 | 社区 | 道路 | 门牌号 | 小区 | 楼栋 | 单元 | 室 | texts/s |
|---|---|---|---|---|---|---|---|---|---|---|
| citylake.jobs.address.parse | 100 / 100 | 100 / 100 | 100 / 100 | 100 / 100 | 100 / 100 | 100 / 100 | 100 / 100 | 100 / 100 | 100 / 100 | 17,091 |
| cpca-new 0.1.2 | 100 / 98.4 | – | – | – | – | – | – | – | – | 23,069 |
| addressparser 0.2.4 | 100 / 98.3 | – | – | – | – | – | – | – | – | 4,359 |
| jionlp 1.5.31 (2,000 sampled texts) | 100 / 100 | 89.8 / 87.1 | – | – | – | – | – | – | – | 81 |

The same run of citylake's parser alone with a load average of 12 on the machine gave 6,135/s (same
accuracy): read speeds within one run only.

What the existing parsers miss here (read from their outputs on a 3,000-person city):
- cpca-new: every miss is a variant written without 山东省济南市 that starts with 市中区, which is also
  a district of 济宁, 枣庄, 乐山 and 内江, so a national parser leaves it open (it returns no district);
  without a district it also reads city names inside road names (东关街道千佛社区千佛山东路… → 佛山市, 广东).
- addressparser: every miss is a variant 济南市中区… (济南 + 市中区), which it reads as 济南市 + 中区.
- jionlp: districts right on every text, but its town list
  predates Jinan's 2020–2021 renamings: 刁镇 for 刁镇街道 (most misses), 口镇 for 茶业口镇, and no town
  at all for some current 街道 (舜耕, 遥墙, 辛庄 …); it is also about 200 times slower.
- None of them parses below 街道 (社区 … 室), which matching to standard addresses needs.

Chosen: citylake's own parser, on the gazetteer of the city (schemas/reference) and lexicon.yaml.
It is exact on every level of the city's forms, at a speed of the same order as cpca-new (which
resolves the division levels only); cpca-new, the best existing one for districts, would still need
a second parser for everything below the district, so it is not a dependency. The synthetic city's
variants are regular; the crafted cases of tests/jobs/test_address_parser.py cover the forms it does
not write (old district names, zones, suffix swaps, 居委会, 3-2-501 with other dashes, financial
numerals, traditional characters, punctuation, invisible characters, non-addresses).

The existing parsers are not dependencies of citylake; to compare, install them into the venv first
(cpca-new imports pyahocorasick without declaring it; none of them changes a pinned package):

    .venv/bin/pip install cpca-new==0.1.2 pyahocorasick==2.3.1 jionlp==1.5.31 addressparser==0.2.4
    .venv/bin/python benchmarks/address_parsers.py --persons 20000 [--seed 7] [--skip-existing]

A parser that is not installed is reported as such and left out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

LEVELS = ("district_code", "street", "community", "road", "house_number", "compound", "building", "unit", "room")


def written_addresses(sources: Path, truth_dir: Path) -> pd.DataFrame:
    """Every address as a department wrote it, with its true components and whether it is a variant."""
    from citylake.synthcity.departments import TABLES

    truth = pd.read_parquet(truth_dir / "record_truth")
    truth = truth[truth["entity_type"] == "address"]
    frames = []
    for name, spec in TABLES.items():
        for col in (c for c in spec.columns if c.kind == "address"):
            with sqlite3.connect(sources / f"{spec.department}.db") as con:
                rows = pd.read_sql(f'SELECT "{spec.key}" AS record_key, "{col.name}" AS text FROM "{spec.name}"', con)
            rows["record_key"] = rows["record_key"].astype(str)
            t = truth[(truth["source_table"] == name) & (truth["role"] == col.role)]
            rows = rows.merge(t[["record_key", "entity_id", "defects"]], on="record_key")
            label = f"{col.name}:address_variant"
            rows["variant"] = rows["defects"].map(lambda d, lab=label: lab in list(d))
            rows["source"] = f"{name}.{col.name}"
            frames.append(rows.drop(columns="defects"))
    out = pd.concat(frames, ignore_index=True).dropna(subset=["text"])
    addresses = pd.read_parquet(truth_dir / "address.parquet").rename(columns={"address_id": "entity_id", "text": "standard_text"})
    return out.merge(addresses, on="entity_id", how="left")


def expected(frame: pd.DataFrame) -> pd.DataFrame:
    """The components the text carries, as strings (a commercial text has no 楼栋/单元)."""
    exp = pd.DataFrame(index=frame.index)
    for level in LEVELS:
        exp[level] = frame[level].astype(str)
    commercial = frame["kind"].eq("commercial")
    exp.loc[commercial, ["building", "unit"]] = None
    return exp


def accuracy(got: pd.Series, want: pd.Series) -> float:
    return round(100.0 * float((got.astype(object).where(got.notna(), None).to_numpy()
                                == want.astype(object).where(want.notna(), None).to_numpy()).mean()), 1)


def _time(fn, texts):
    started = time.perf_counter()
    out = fn(texts)
    return out, len(texts) / (time.perf_counter() - started)


def run_ours(texts: list[str]) -> tuple[pd.DataFrame, float]:
    from citylake.jobs.address.parse import parse, parse_many

    parse("山东省济南市历下区二号楼三单元")  # load the lexicon, OpenCC's table and cn2an outside the timing
    parsed, rate = _time(parse_many, texts)
    return pd.DataFrame([{level: getattr(p, level) for level in LEVELS} for p in parsed]), rate


def run_cpca(texts):
    import cpca_new

    cpca_new.transform(["山东省济南市历下区"])
    out, rate = _time(cpca_new.transform, texts)
    return pd.DataFrame({"district_code": out["adcode"].where(out["区"].notna(), None).to_numpy()}), rate


def run_addressparser(texts, names):
    import addressparser

    addressparser.transform(["山东省济南市历下区"])
    out, rate = _time(addressparser.transform, texts)
    return pd.DataFrame({"district_code": out["区"].map(lambda n: names.get(n)).to_numpy()}), rate


def run_jionlp(texts, names):
    with contextlib.redirect_stdout(sys.stderr):  # its banner would spoil the JSON report
        import jionlp

    jionlp.parse_location("山东省济南市历下区", town_village=True, change2new=True)

    def parse_all(ts):
        return [jionlp.parse_location(t, town_village=True, change2new=True) for t in ts]

    out, rate = _time(parse_all, texts)
    return pd.DataFrame({"district_code": [names.get(o.get("county")) for o in out],
                         "street": [o.get("town") for o in out]}), rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--persons", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-existing", action="store_true", help="score citylake's parser only")
    ap.add_argument("--jionlp-sample", type=int, default=2000,
                    help="distinct texts jionlp parses (a random sample: it takes about 30 ms a text here)")
    args = ap.parse_args()

    from citylake.schemas.reference import gazetteer
    from citylake.synthcity.generate import generate

    with tempfile.TemporaryDirectory(prefix="address-bench-") as tmp:
        root = Path(tmp)
        generate(args.persons, args.seed, [f"sqlite:///{root}/{{department}}.db"], root / "truth")
        records = written_addresses(root, root / "truth")
    distinct = records.drop_duplicates(["text", "entity_id"]).reset_index(drop=True)
    want = expected(distinct)
    texts = distinct["text"].tolist()
    names = {d.name: d.code for d in gazetteer().districts}
    everything = distinct.index
    runs = {"citylake": (everything, *run_ours(texts))}
    missing = []
    if not args.skip_existing:
        sample = distinct.sample(min(args.jionlp_sample, len(distinct)), random_state=args.seed).index
        for name, rows, run in (("cpca-new", everything, lambda: run_cpca(texts)),
                                ("addressparser", everything, lambda: run_addressparser(texts, names)),
                                ("jionlp", sample, lambda: run_jionlp([texts[i] for i in sample], names))):
            try:
                runs[name] = (rows, *run())
            except ImportError:
                missing.append(name)
    report = {"persons": args.persons, "records": len(records), "distinct_texts": len(distinct),
              "variants": int(distinct["variant"].sum()), "not_installed": missing, "parsers": {}}
    for parser, (rows, got, rate) in runs.items():
        got.index = rows
        levels = {}
        for level in (c for c in LEVELS if c in got):
            levels[level] = {form: accuracy(got.loc[rows[mask], level], want.loc[rows[mask], level])
                             for form, mask in (("standard", ~distinct.loc[rows, "variant"].to_numpy()),
                                                ("variant", distinct.loc[rows, "variant"].to_numpy()))}
        report["parsers"][parser] = {"texts": len(rows), "texts_per_second": round(rate), "accuracy_pct": levels}
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
