"""The legal-entity library build (citylake.jobs.enterprise.build) on a small synthetic city, for real:
generated department systems, ingestion, the quality gate, Spark, Delta tables, after the population
and address libraries — scored against the generator's truth (record_truth, enterprise.parquet).

The city has more enterprises and more USCC and name defects than the defaults (the defaults
give a 600-person city's 30 enterprises hardly any), so repairs, pilot codes, names and
conflicts are all exercised."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

from citylake.jobs.address.build import build_address
from citylake.jobs.enterprise.build import CONFLICT, ENTERPRISE, LINK, PROFILE, build_enterprise
from citylake.jobs.enterprise.feedback import CORRECTION_RULE
from citylake.jobs.person.build import build_person
from citylake.quality.feedback import read_issues
from citylake.sources.registry import load_registry
from tests.quality.cities import city, ingest_and_gate

pytestmark = pytest.mark.slow

PERSONS = 600
CITY = """
enterprises_per_person: 0.15
pilot_code_share: 0.05
defects:
  scjg.QYDJ:
    TYSHXYDM: {mistyped_digit: 0.03, bad_check_digit: 0.02, fullwidth: 0.02, stray_space: 0.02, lowercase_letters: 0.05}
    QYMC: {traditional_chars: 0.03}
  renshe.AC02:
    aab998: {mistyped_digit: 0.03, bad_check_digit: 0.02, lowercase_letters: 0.02, missing: 0.02}
    aab004: {org_name_conflict: 0.03, org_name_variant: 0.03}
  shuiwu.sb_sbxx:
    nsrsbh: {mistyped_digit: 0.02, fullwidth: 0.01, stray_space: 0.01, missing: 0.01}
    nsrmc: {org_name_conflict: 0.01, org_name_variant: 0.02, traditional_chars: 0.01}
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory, spark):
    root = tmp_path_factory.mktemp("enterprise-city")
    home, lake, _ = city(root, PERSONS, 12, CITY)
    ingest_and_gate(home, lake, "d0")
    registry = load_registry()
    build_person(spark, lake, registry)
    build_address(spark, lake, registry)
    summary = build_enterprise(spark, lake, registry)
    return home, lake, summary


def _links(lake) -> pd.DataFrame:
    return lake.read_arrow(LINK).read_all().to_pandas()


def _scored(home, lake) -> pd.DataFrame:
    """The links with the true enterprise's USCC (``true_uscc``) of every record."""
    truth = ds.dataset(str(Path(home.truth) / "record_truth")).to_table().to_pandas()
    truth = truth[truth["entity_type"] == "enterprise"]
    world = pd.read_parquet(Path(home.truth) / "enterprise.parquet", columns=["enterprise_id", "uscc"])
    truth = truth.merge(world.rename(columns={"enterprise_id": "entity_id", "uscc": "true_uscc"}), on="entity_id")
    return _links(lake).merge(truth, on=["source_table", "record_key", "role"], how="left")


def test_every_enterprise_bearing_record_is_linked_or_has_a_reason(built):
    from citylake.orchestration.enterprise_dags import enterprise_silver_tables

    _, lake, summary = built
    links = _links(lake)
    assert links["record_id"].is_unique and len(links) == summary["records"]
    assert (links["uscc"].notna() ^ links["unlinked_reason"].notna()).all()
    # Every table that maps enterprise (or party) fields, read through the registry, in both layers.
    tables = {t.removeprefix("silver.") for t in enterprise_silver_tables(load_registry())}
    assert {f"{s.split('.')[0]}_{s.split('.')[1].lower()}" for s in links["source_table"]} == tables
    assert set(links["layer"]) == {"silver", "quarantine"}
    assert set(links["role"]) == {"subject", "employer"}
    assert summary["linked_by_repair"] > 0 and summary["linked_by_name"] > 0


def test_links_scored_against_the_truth(built):
    home, lake, summary = built
    scored = _scored(home, lake)
    # Every enterprise-bearing record is an enterprise of the truth (an organisation holding a
    # property, never a person).
    assert scored["true_uscc"].notna().all()
    right = scored["uscc"] == scored["true_uscc"]
    assert right.mean() >= 0.999, scored.loc[~right, ["record_id", "written_uscc", "uscc", "true_uscc"]]
    # Two different true enterprises never share a golden one; every one the sources mention is there.
    linked = scored[scored["uscc"].notna()]
    assert (linked.groupby("uscc")["true_uscc"].nunique() > 1).sum() == 0
    assert summary["enterprises"] == scored["true_uscc"].nunique()
    # Proposed corrections (建议更正为) are the true codes, and every mistyped code that was linked has one.
    proposals = scored[scored["proposed_uscc"].notna()]
    assert len(proposals) and (proposals["proposed_uscc"] == proposals["true_uscc"]).all()
    mistyped = scored[scored["defects"].map(lambda d: any(x.endswith(("mistyped_digit", "bad_check_digit"))
                                                          for x in d if not x.startswith("aab004")))]
    assert len(mistyped) and mistyped["proposed_uscc"].notna().all()
    # Pilot codes (the check character fails, yet registered) stay as registered.
    pilots = lake.read_arrow(ENTERPRISE, filter=pc.field("pilot_code")).read_all().to_pandas()
    world = pd.read_parquet(Path(home.truth) / "enterprise.parquet", columns=["uscc", "pilot_code"])
    assert set(pilots["uscc"]) == set(world.loc[world["pilot_code"], "uscc"]) & set(scored["true_uscc"])


def test_golden_attributes_come_from_the_authority_and_link_the_libraries(built):
    home, lake, _ = built
    enterprise = lake.read_arrow(ENTERPRISE).read_all().to_pandas()
    world = pd.read_parquet(Path(home.truth) / "enterprise.parquet")
    persons = pd.read_parquet(Path(home.truth) / "person.parquet", columns=["person_id", "id_number"])
    world = world.merge(persons.rename(columns={"person_id": "legal_rep_person_id", "id_number": "rep_id"}),
                        on="legal_rep_person_id")
    joined = enterprise.merge(world, on="uscc", suffixes=("", "_true"))
    assert len(joined) == len(enterprise)
    registered = joined[joined["sources"].map(lambda s: "scjg.QYDJ" in s)]
    assert len(registered) == len(world)
    assert all(dict(p)["name"]["source_table"] == "scjg.QYDJ" for p in registered["provenance"])
    status = {"active": "存续", "revoked": "吊销", "deregistered": "注销"}
    assert (registered["status"] == registered["status_true"].map(status)).all()
    assert (registered["name"] == registered["name_true"]).mean() >= 0.99  # 繁体 names are simplified
    # The legal representative is the true person in gold.person; the registered address a standard one.
    assert (registered["legal_rep_person_id"] == registered["rep_id"]).mean() >= 0.99
    assert registered["address_id"].notna().mean() >= 0.95
    # Employees (人社) and tax (税务) by month; properties (不动产) held by enterprises.
    employing = registered[registered["employees"] > 0]
    latest = employing["insured_employees"].map(lambda s: s[-1]["employees"] if len(s) else 0)
    assert (latest == employing["employees"]).mean() >= 0.95
    assert registered["tax_declared"].map(len).gt(0).sum() > 0 and registered["properties"].map(len).gt(0).sum() > 0
    assert registered["employer_codes"].map(len).gt(0).sum() == len(employing)


def test_conflicts_are_the_injected_names_and_reach_the_departments(built):
    home, lake, summary = built
    conflicts = lake.read_arrow(CONFLICT).read_all().to_pandas()
    scored = _scored(home, lake)
    injected = scored[scored["defects"].map(lambda d: any(x.endswith("org_name_conflict") for x in d))]
    assert len(injected) and set(injected["record_id"]) == set(conflicts["record_id"])
    # Variants (有限公司/有限责任公司, 繁体) are no conflict.
    variants = scored[scored["defects"].map(lambda d: any(x.endswith(("org_name_variant", "traditional_chars"))
                                                          for x in d))]
    assert len(variants) and not set(variants["record_id"]) & set(conflicts["record_id"])
    issues = read_issues(lake, pc.field("rule").isin(sorted(set(conflicts["rule"]))))
    assert len(issues) == len(conflicts) == summary["conflicts"]
    assert set(issues["status"]) == {"待整改"} and set(issues["severity"]) == {"warning"}
    corrections = read_issues(lake, pc.field("rule") == CORRECTION_RULE)
    assert len(corrections) == summary["proposed_corrections"]
    proposed = _links(lake).dropna(subset=["proposed_uscc"]).set_index(["source_table", "record_key"])
    for issue in corrections.itertuples():
        assert f"建议更正为 {proposed.loc[(issue.source_table, issue.record_key), 'proposed_uscc']}" in issue.description


def test_profile_and_enterprise_show_with_the_role_check(built, monkeypatch, capsys):
    from citylake.cli import main

    home, lake, _ = built
    enterprise = lake.read_arrow(ENTERPRISE).read_all().to_pandas()
    chosen = enterprise.loc[enterprise["record_count"].idxmax()]
    profile = lake.read_arrow(PROFILE, filter=pc.field("uscc") == chosen["uscc"]).read_all().to_pylist()[0]
    parts = dict(profile["parts"])
    assert {"registration", "insured_employees"} <= set(parts)
    assert sum(len(v) for v in parts.values()) == chosen["record_count"]
    monkeypatch.setenv("CITYLAKE_HOME", str(home.root))
    monkeypatch.delenv("CITYLAKE_ROLE", raising=False)
    assert main(["-q", "enterprise", "show", chosen["uscc"]]) == 2  # an analyst, by default
    assert chosen["legal_rep_name"] not in capsys.readouterr().out
    assert main(["-q", "enterprise", "show", chosen["uscc"].lower(), "--role", "engineer"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"一企一档 {chosen['uscc']}") and chosen["name"] in out and "insured employees" in out
    assert main(["-q", "enterprise", "show", "91370100MA00000000", "--role", "engineer"]) == 1
    log = lake.read_arrow("governance.access_log",
                          filter=pc.field("interface") == "citylake enterprise show").read_all()
    assert sorted(log.column("outcome").to_pylist()) == ["failed", "ok", "refused"]
