"""The configuration files: pydantic models and their JSON Schemas (citylake.config_model,
citylake.config_files), overrides from a configuration folder ($CITYLAKE_CONFIG), and
``citylake config show|check|schema``."""

from __future__ import annotations

import shutil

import jsonschema
import pytest

from citylake import cli
from citylake.config_files import CONFIG_ENV, FAMILIES, schema_header, schema_path, schema_text
from citylake.configuration import ConfigurationError, check_configuration, read_yaml


@pytest.fixture
def shipped(monkeypatch):
    """No configuration folder and no registry directory: the shipped files."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.delenv("CITYLAKE_SOURCES", raising=False)


def test_the_checked_in_schemas_are_the_generated_ones():
    for family in FAMILIES:
        assert schema_path(family).read_text(encoding="utf-8") == schema_text(family), (
            f"{schema_path(family)} is stale: run citylake config schema")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_shipped_file_validates_against_its_schema(shipped, family):
    import json

    schema = json.loads(schema_path(family).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    files = FAMILIES[family].files()
    assert files
    for path in files:
        assert path.read_text(encoding="utf-8").splitlines()[0] == schema_header(path, family)
        assert schema_header(path, family).endswith(f"json/{family}.schema.json")
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(read_yaml(path))]
        assert not errors, f"{path}: {errors[:3]}"


def test_the_schema_refuses_what_the_model_refuses(shipped):
    """The JSON Schema is the model's: an editor flags the same mistakes the loader stops on."""
    import json

    schema = json.loads(schema_path("indicators").read_text(encoding="utf-8"))
    document = read_yaml(FAMILIES["indicators"].shipped)
    document["checks"]["valid"]["criticality"] = "fatal"
    with pytest.raises(jsonschema.ValidationError, match="'fatal' is not one of"):
        jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
    document["checks"]["valid"] = {**document["checks"]["valid"], "criticality": "error", "colour": "red"}
    with pytest.raises(jsonschema.ValidationError, match="'colour' was unexpected"):
        jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)


# family -> (file under the configuration folder, shipped text, replacement)
EDITS = {
    "registry": ("sources/systems/gongan.yaml", "  load: incremental\n", "  load: incremental\n  error_threshold: 0.05\n"),
    "standards": ("schemas/standards/person.yaml", "max_length: 50", "max_length: 40"),
    "indicators": ("quality/indicators.yaml", "criticality: error", "criticality: warning"),
    "cross_source": ("quality/cross_source.yaml", "criticality: warning", "criticality: error"),
    "catalog": ("catalog/catalog.yaml", "bureau: 市大数据局", "bureau: 某市大数据中心"),
    "synthcity": ("synthcity/synthcity.yaml", "employment_rate: 0.72", "employment_rate: 0.61"),
    "upkeep": ("lake/upkeep.yaml", "min_small_files: 8", "min_small_files: 12"),
}


def _effect(family: str):
    """What the family's public loader gives for the value EDITS changes."""
    if family == "registry":
        from citylake.sources.registry import load_registry

        return load_registry(strict=True)["gongan"].table("CZRK").error_threshold
    if family == "standards":
        from citylake.schemas.standards import standard_field

        return standard_field("person.name").max_length
    if family == "indicators":
        from citylake.quality.checks import check_kind

        return check_kind("valid").criticality
    if family == "cross_source":
        from citylake.quality.cross_source import load_rules

        return load_rules()[0].criticality
    if family == "catalog":
        from citylake.catalog.declarations import declarations

        return declarations().bureau
    if family == "synthcity":
        from citylake.synthcity.config import load_config

        return load_config().employment_rate
    from citylake.lake.upkeep import load_upkeep_settings

    return load_upkeep_settings().defaults.min_small_files


EXPECTED = {"registry": (0.2, 0.05), "standards": (50, 40), "indicators": ("error", "warning"),
            "cross_source": ("warning", "error"), "catalog": ("市大数据局", "某市大数据中心"),
            "synthcity": (0.72, 0.61), "upkeep": (8, 12)}


def _override(folder, family: str, old: str, new: str):
    relative = EDITS[family][0]
    source = FAMILIES[family].shipped / relative.rsplit("/", 1)[1] if FAMILIES[family].folder else \
        FAMILIES[family].shipped
    text = source.read_text(encoding="utf-8")
    assert old in text
    target = folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


@pytest.mark.parametrize("family", list(FAMILIES))
def test_an_override_in_the_configuration_folder_takes_effect(shipped, monkeypatch, tmp_path, family):
    assert set(EDITS) == set(FAMILIES)
    before, after = EXPECTED[family]
    assert _effect(family) == before
    _, old, new = EDITS[family]
    _override(tmp_path, family, old, new)
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path))
    assert _effect(family) == after
    check_configuration()  # the whole configuration, with the override, is still consistent


# family -> (shipped text, broken text, the entry and problem the error names)
BROKEN = {
    "registry": ("  load: incremental\n", "  load: sometimes\n",
                 "tables[0] (CZRK).load: Input should be 'incremental' or 'snapshot', got 'sometimes'"),
    "standards": ("type: string", "type: text",
                  "fields.id_number.type: Input should be 'string', 'date', 'integer' or 'decimal', got 'text'"),
    "indicators": ("criticality: error", "criticality: fatal",
                   "checks.valid.criticality: Input should be 'error', 'warning' or 'drop_value', got 'fatal'"),
    "cross_source": ("criticality: warning", "criticality: sometimes",
                     "rules[0] (cross.insured_after_death).criticality: Input should be 'error' or 'warning', "
                     "got 'sometimes'"),
    "catalog": ("bureau: 市大数据局", "bureau: ''", "bureau: String should have at least 1 character, got ''"),
    "synthcity": ("employment_rate: 0.72", "employment_rate: 1.5",
                  "employment_rate: Input should be less than or equal to 1, got 1.5"),
    "upkeep": ("min_small_files: 8", "min_small_files: 1",
               "defaults.min_small_files: Input should be greater than or equal to 2, got 1"),
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_broken_override_is_one_line_naming_its_file_and_entry(shipped, monkeypatch, tmp_path, capsys, family):
    old, new, problem = BROKEN[family]
    path = _override(tmp_path, family, old, new)
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path))
    line = f"{path}: {problem}"
    with pytest.raises(ConfigurationError) as error:
        _effect(family)
    assert str(error.value) == line
    with pytest.raises(ConfigurationError) as error:
        check_configuration()
    assert "\n" not in str(error.value) and str(path) in str(error.value)
    assert cli.main(["config", "check", "--config-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"error  {family:<14}{line}\n" in out


def test_the_registry_directory_wins_over_the_configuration_folder(shipped, monkeypatch, tmp_path):
    from citylake.sources.registry import load_registry

    _override(tmp_path / "config", "registry", *EDITS["registry"][1:])
    registry = tmp_path / "systems"
    registry.mkdir()
    shutil.copy(FAMILIES["registry"].shipped / "gongan.yaml", registry)
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "config"))
    monkeypatch.setenv("CITYLAKE_SOURCES", str(registry))
    assert set(load_registry(strict=True)) == {"gongan"}
    assert load_registry(strict=True)["gongan"].table("CZRK").error_threshold == 0.2


def test_a_new_file_in_an_override_folder_is_added(shipped, monkeypatch, tmp_path):
    from citylake.sources.registry import load_registry

    folder = tmp_path / "sources" / "systems"
    folder.mkdir(parents=True)
    (folder / "tongji.yaml").write_text(
        "system: tongji\nname_zh: 统计局联网直报系统\nname_en: Statistics\nowner: 统计局\nconnection: citylake_tongji\n"
        "schedule: '@daily'\ntables:\n- {name: qy_lwzb, description: 联网直报, primary_key: [bgid], load: snapshot,"
        " columns: {tyshxydm: enterprise.uscc}}\n", encoding="utf-8")
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path))
    registry = load_registry(strict=True)
    assert "tongji" in registry and "gongan" in registry


def test_citylake_config_show_names_shipped_and_overridden_files(shipped, monkeypatch, tmp_path, capsys):
    path = _override(tmp_path, "indicators", *EDITS["indicators"][1:])
    monkeypatch.setenv(CONFIG_ENV, "")  # restored after the test: the command sets it
    assert cli.main(["config", "show", "--config-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"indicators    override  {path}\n" in out
    assert f"upkeep        shipped   {FAMILIES['upkeep'].shipped}\n" in out
    assert out.count("\nregistry") == len(FAMILIES["registry"].files())


def test_citylake_config_check_and_schema_on_the_shipped_files(shipped, capsys):
    assert cli.main(["config", "check"]) == 0
    out = capsys.readouterr().out
    assert "every configuration file is valid" in out
    assert all(f"ok     {family:<14}" in out for family in FAMILIES)
    assert cli.main(["config", "schema", "--check"]) == 0
    before = {family: schema_path(family).read_text(encoding="utf-8") for family in FAMILIES}
    assert cli.main(["config", "schema"]) == 0
    assert {family: schema_path(family).read_text(encoding="utf-8") for family in FAMILIES} == before
    assert str(schema_path("registry")) in capsys.readouterr().out


def test_a_stale_schema_is_reported(shipped, monkeypatch, tmp_path, capsys):
    import citylake.config_files as config_files

    shutil.copytree(config_files.schema_dir(), tmp_path / "json")
    (tmp_path / "json" / "upkeep.schema.json").write_text("{}\n", encoding="utf-8")
    monkeypatch.setattr(config_files, "schema_dir", lambda: tmp_path / "json")
    assert cli.main(["config", "schema", "--check"]) == 1
    assert "upkeep.schema.json: differs from the model of upkeep" in capsys.readouterr().out
