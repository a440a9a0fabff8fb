"""The artifact store: settings and content recorded on write and checked on read; damage, loss and
staleness named; chunked builds that resume, and leftovers that never block a corrected rerun."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from ttc.core import store as S
from ttc.core.executors import build_in_chunks


def table(n=3):
    return pd.DataFrame({"x": list(range(n)), "y": [f"r{i}" for i in range(n)]})


def test_a_table_reads_back_with_its_settings_and_other_settings_are_refused(tmp_path):
    path = tmp_path / "t.parquet"
    S.write_table(path, table(), {"n": 3})
    assert S.read_table(path, {"n": 3}).equals(table())
    assert S.check_artifact(path) == {"n": 3}
    with pytest.raises(S.StaleArtifact, match=r"t.parquet was made with other settings \(differing: \['n'\]\)"):
        S.read_table(path, {"n": 4})


def test_damage_and_loss_are_named_with_the_path(tmp_path):
    path = tmp_path / "t.parquet"
    S.write_table(path, table(50), {"n": 50})
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: same size, other content
    path.write_bytes(bytes(data))
    with pytest.raises(S.CorruptArtifact, match=f"{path}.*damaged"):
        S.read_table(path)
    path.write_bytes(bytes(data[:100]))  # truncated
    with pytest.raises(S.CorruptArtifact, match="damaged"):
        S.read_table(path)
    path.unlink()
    with pytest.raises(S.MissingArtifact, match=f"{path} does not exist: run notebook 02"):
        S.read_table(path, made_by="notebook 02")
    S.manifest_path(path).write_text("{not json")
    path.write_bytes(b"x")
    with pytest.raises(S.CorruptArtifact, match="manifest"):
        S.read_table(path)


def test_a_file_without_its_manifest_was_never_finished(tmp_path):
    path = tmp_path / "t.parquet"
    table().to_parquet(path)
    with pytest.raises(S.MissingArtifact, match="never finished"):
        S.read_table(path)


def test_cached_tables_are_rebuilt_when_damaged_or_deleted_but_not_when_stale(tmp_path):
    path, calls = tmp_path / "t.parquet", []

    def build():
        calls.append(1)
        return table()

    S.cached_table(path, {"a": 1}, build)
    S.cached_table(path, {"a": 1}, build)
    assert len(calls) == 1
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.warns(UserWarning, match="rebuilding"):
        assert S.cached_table(path, {"a": 1}, build).equals(table())
    path.unlink()
    S.cached_table(path, {"a": 1}, build)
    assert len(calls) == 3
    with pytest.raises(S.StaleArtifact):
        S.cached_table(path, {"a": 2}, build)


def test_a_folder_artifact_is_whole_or_absent(tmp_path):
    path = tmp_path / "model"

    def fill(tmp):
        (tmp / "weights.bin").write_bytes(bytes(range(256)) * 16)
        (tmp / "meta.json").write_text("{}")

    S.write_dir(path, fill, {"size": 1})
    assert S.check_artifact(path, {"size": 1}) == {"size": 1}
    weights = path / "weights.bin"
    data = bytearray(weights.read_bytes())
    data[1000:1100] = bytes(100)  # zeroed inside: same size
    weights.write_bytes(bytes(data))
    with pytest.raises(S.CorruptArtifact, match=f"{path} is damaged"):
        S.check_artifact(path)

    def fails(tmp):
        (tmp / "half").write_text("x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        S.write_dir(tmp_path / "other", fails, {})
    assert not (tmp_path / "other").exists()


def test_chunked_builds_resume_and_a_failed_build_never_blocks_a_corrected_one(tmp_path):
    path, made = tmp_path / "t.parquet", []

    def chunk(i, fail_at=None):
        if i == fail_at:
            raise ValueError("bad setting found mid-build")
        made.append(i)
        return pd.DataFrame({"chunk": [i]})

    with pytest.raises(ValueError):
        build_in_chunks(path, {"v": 1}, 4, lambda i: chunk(i, fail_at=2), progress=False)
    assert made == [0, 1]
    # Resumed with the same settings: pieces 0 and 1 are read back, not made again.
    whole = build_in_chunks(path, {"v": 1}, 4, chunk, progress=False)
    assert made == [0, 1, 2, 3] and whole["chunk"].tolist() == [0, 1, 2, 3]
    assert not path.with_name(path.name + ".partial").exists()
    # A build with other settings that failed leaves pieces keyed by its own settings only.
    with pytest.raises(ValueError):
        build_in_chunks(tmp_path / "u.parquet", {"v": 2}, 3, lambda i: chunk(i, fail_at=1), progress=False)
    assert build_in_chunks(tmp_path / "u.parquet", {"v": 3}, 3, chunk, progress=False)["chunk"].tolist() == [0, 1, 2]


def test_make_reruns_the_notebook_whose_artifact_is_deleted_or_damaged(tmp_path):
    executed = tmp_path / "notebooks"
    executed.mkdir()
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    S.write_table(a, table(), {})
    S.write_table(b, table(), {})
    for name, paths in (("01_x", [a]), ("02_y", [a, b])):
        (executed / f"{name}.ipynb").write_text("{}")
        (executed / f"{name}.artifacts.json").write_text(json.dumps({"artifacts": {str(p): "wrote" for p in paths}}))
    assert S.stale_notebooks(executed) == []
    b.write_bytes(b.read_bytes()[:-5])
    out = subprocess.run([sys.executable, "-m", "ttc.core.store", "check", str(executed)], capture_output=True, text=True,
                         check=True).stdout
    assert "02_y.ipynb runs again" in out and "corrupt" in out
    assert (executed / "01_x.ipynb").exists() and not (executed / "02_y.ipynb").exists()
    a.unlink()
    subprocess.run([sys.executable, "-m", "ttc.core.store", "check", str(executed)], check=True, capture_output=True)
    assert not (executed / "01_x.ipynb").exists()


WRONG_SHAPES = ["[1, 2]", '"str"', "null", "3", '{"files": 3}', '{"settings": {}}', '{"files": {}}',
                '{"settings": {}, "files": [1]}', '{"settings": {}, "files": {"t.parquet": [1]}}',
                '{"settings": {}, "files": {}, "inputs": [1]}', "{not json", ""]


@pytest.mark.parametrize("text", WRONG_SHAPES + ["\udcff binary"])
def test_a_manifest_of_any_wrong_shape_is_damage_named_by_its_path_and_rebuilt(tmp_path, text):
    path, calls = tmp_path / "t.parquet", []
    S.write_table(path, table(), {"a": 1})
    manifest = S.manifest_path(path)
    if text.startswith("\udcff"):
        manifest.write_bytes(b"\xff\xfe\x00binary")
    else:
        manifest.write_text(text)
    with pytest.raises(S.CorruptArtifact, match=f"{manifest} is damaged"):
        S.read_table(path, {"a": 1})
    assert S.artifact_status(path) == "corrupt"
    with pytest.warns(UserWarning, match="rebuilding"):
        S.cached_table(path, {"a": 1}, lambda: calls.append(1) or table())
    assert calls == [1] and S.read_table(path, {"a": 1}).equals(table())


@pytest.mark.parametrize("text", WRONG_SHAPES + ['{"artifacts": [1]}', '{"artifacts": {"x": 1}}'])
def test_make_reruns_a_notebook_whose_run_record_or_input_manifest_has_a_wrong_shape(tmp_path, text):
    executed = tmp_path / "notebooks"
    executed.mkdir()
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    S.write_table(a, table(), {})
    S.write_table(b, table(), {})
    for name, paths in (("01_x", [a]), ("02_y", [b])):
        (executed / f"{name}.ipynb").write_text("{}")
        (executed / f"{name}.artifacts.json").write_text(json.dumps({"artifacts": {str(p): "wrote" for p in paths}}))
    (executed / "01_x.artifacts.json").write_text(text)  # a damaged run record
    S.manifest_path(b).write_text(text)  # an input whose manifest is damaged
    out = subprocess.run([sys.executable, "-m", "ttc.core.store", "check", str(executed)], capture_output=True,
                         text=True, check=True).stdout
    assert "01_x.ipynb runs again: its run record is damaged" in out
    assert f"02_y.ipynb runs again: {b} is corrupt" in out
    assert not (executed / "01_x.ipynb").exists() and not (executed / "02_y.ipynb").exists()


def test_figures_carry_their_settings_inside(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    png, pdf = S.save_figure(fig, tmp_path, "f", {"profile": "tiny", "seed": 0})
    assert json.loads(Image.open(png).info["Description"]) == {"profile": "tiny", "seed": 0}
    assert b"profile" in open(pdf, "rb").read() and not list(tmp_path.glob("*.artifact.json"))


def test_an_artifact_made_with_other_numerics_is_refused_not_reused(tmp_path, monkeypatch):
    from ttc.core import determinism

    path = tmp_path / "t.parquet"
    S.write_table(path, pd.DataFrame({"x": [1.0]}), {"n": 1})
    assert json.loads(S.manifest_path(path).read_text())["numerics"] == determinism.numerics()
    assert S.reusable(path, {"n": 1}, "table")
    monkeypatch.setattr(determinism, "numerics", lambda: "native: another processor")
    with pytest.raises(S.StaleArtifact, match=r"made with other numerics \(pinned v1.*this process: native"):
        S.reusable(path, {"n": 1}, "table")
    assert S.artifact_status(path) == "ok"  # whole, only not this process's: a read without settings still works


def test_an_artifact_built_from_an_input_since_rebuilt_with_other_bytes_is_out_of_date(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "_touched", {})  # what this process read and wrote: nothing yet
    pool, scores = tmp_path / "pool.parquet", tmp_path / "scores.parquet"
    S.write_table(pool, table(3), {"pool": 1})
    S.read_table(pool, {"pool": 1})
    S.write_table(scores, table(2), {"scores": 1})
    # the manifest names what it was built from (outside the data root: by absolute path) with its content hash
    assert list(json.loads(S.manifest_path(scores).read_text())["inputs"]) == [str(pool.resolve())]
    assert S.reusable(scores, {"scores": 1}, "the scores") and S.artifact_status(scores) == "ok"
    S.write_table(pool, table(3), {"pool": 1})  # rebuilt bit-identical: nothing is out of date
    assert S.artifact_status(scores) == "ok"
    S.write_table(pool, table(4), {"pool": 1})  # same settings, other bytes: the scores no longer match it
    assert S.artifact_status(scores) == "out of date"
    with pytest.raises(S.OutdatedArtifact, match="was built from .*pool.parquet, which has changed since"):
        S.read_table(scores, {"scores": 1})
    with pytest.warns(UserWarning, match="rebuilding it"):
        assert not S.reusable(scores, {"scores": 1}, "the scores")
    assert not scores.exists()
