"""Registry validation: errors name the file, the entry, the key and the line."""

import pytest

from zoo_core.errors import RegistryError
from zoo_core.registry import load_registry, parse_registry_file


def _write(tmp_path, text):
    path = tmp_path / "reg.yaml"
    path.write_text(text)
    return path


def test_main_registry_is_valid():
    reg = load_registry()
    assert "mpnn" in reg.sections["encoders"]
    assert reg.entry("encoders", "mpnn")["featurizer"] == "mrl56"


def test_unknown_key_names_file_entry_key_and_line(tmp_path):
    path = _write(tmp_path, "encoders:\n  foo:\n    impl: foo\n    featurizer: mrl56\n    featurzier: x\n")
    with pytest.raises(RegistryError) as err:
        parse_registry_file(path)
    msg = str(err.value)
    assert str(path) in msg and "encoders.foo" in msg and "'featurzier'" in msg and "line 5" in msg


def test_missing_required_key(tmp_path):
    path = _write(tmp_path, "encoders:\n  foo:\n    impl: foo\n")
    with pytest.raises(RegistryError, match=r"encoders\.foo: missing required key 'featurizer'"):
        parse_registry_file(path)


def test_wrong_type(tmp_path):
    path = _write(tmp_path, "encoders:\n  foo:\n    impl: foo\n    featurizer: mrl56\n    params: 3\n")
    with pytest.raises(RegistryError, match=r"key 'params' must be dict, got int"):
        parse_registry_file(path)


def test_unknown_section_and_bad_yaml(tmp_path):
    with pytest.raises(RegistryError, match="unknown section 'encoder'"):
        parse_registry_file(_write(tmp_path, "encoder: {}\n"))
    with pytest.raises(RegistryError, match="not valid YAML"):
        parse_registry_file(_write(tmp_path, "encoders: [\n"))


def test_weights_need_dotted_name_and_hash(tmp_path):
    base = ("weights:\n  {name}:\n    encoder: mpnn\n    pair_model: late_fusion\n    dataset: freesolv\n"
            "    url: w.safetensors\n    sha256: '{sha}'\n    featurizer: {{name: mrl56}}\n")
    with pytest.raises(RegistryError, match="must be named 'model.tag'"):
        parse_registry_file(_write(tmp_path, base.format(name="mpnn", sha="0" * 64)))
    with pytest.raises(RegistryError, match="64 hex digits"):
        parse_registry_file(_write(tmp_path, base.format(name="mpnn.x", sha="abc")))


def test_yaml_is_loaded_safely(tmp_path):
    path = _write(tmp_path, "encoders: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(RegistryError, match="not valid YAML"):
        parse_registry_file(path)


def test_fragment_conflict_detected_in_strict_mode(tmp_path):
    frag = _write(tmp_path, "encoders:\n  mpnn:\n    impl: other\n    featurizer: mrl56\n")
    with pytest.raises(RegistryError, match="conflicts"):
        load_registry([(str(frag), "someplugin")], strict_fragments=True)
    reg = load_registry([(str(frag), "someplugin")])
    assert reg.entry("encoders", "mpnn")["impl"] == "mpnn"


def test_unknown_name_suggests(tmp_path):
    with pytest.raises(RegistryError, match="did you mean"):
        load_registry().entry("encoders", "mpn")
