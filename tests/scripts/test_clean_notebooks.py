"""scripts/clean_notebooks.py: local paths leave outputs whole, never half-mangled."""
import importlib.util
from pathlib import Path

import pytest

from lorakit.course.paths import REPO_ROOT

spec = importlib.util.spec_from_file_location("clean_notebooks", REPO_ROOT / "scripts" / "clean_notebooks.py")
clean = importlib.util.module_from_spec(spec)
spec.loader.exec_module(clean)


@pytest.mark.parametrize("text, expected", [
    # a venv inside the checkout: the whole path goes, not just the part after the repo root
    (f"{REPO_ROOT}/.venv/lib/python3.11/site-packages/transformers/modeling_utils.py:3312: FutureWarning",
     "site-packages/transformers/modeling_utils.py:3312: FutureWarning"),
    ('  File "/opt/conda/lib/python3.11/site-packages/peft/peft_model.py", line 3',
     '  File "site-packages/peft/peft_model.py", line 3'),
    (f"saved to {REPO_ROOT}/build/x.json", "saved to build/x.json"),
    (f"cd {REPO_ROOT}", "cd ."),
])
def test_scrub(text, expected):
    assert clean._scrub(text) == expected
    assert not clean.LOCAL_PATH.search(clean._scrub(text).replace("/opt/", ""))


def test_clean_numbers_cells_and_reports_left_over_paths(tmp_path):
    import json
    nb = {"cells": [{"cell_type": "code", "metadata": {"execution": {}}, "source": "1", "execution_count": 7,
                     "outputs": [{"output_type": "stream", "name": "stdout", "text": f"{REPO_ROOT}/data\n"}]},
                    {"cell_type": "code", "metadata": {}, "source": "2", "execution_count": 9,
                     "outputs": [{"output_type": "stream", "name": "stdout", "text": "/home/someone/secret\n"}]}],
          "metadata": {"widgets": {}}, "nbformat": 4, "nbformat_minor": 5}
    path = Path(tmp_path) / "x.ipynb"
    path.write_text(json.dumps(nb))
    problems = clean.clean(path)
    out = json.loads(path.read_text())
    assert [c["execution_count"] for c in out["cells"]] == [1, 2]
    assert out["cells"][0]["outputs"][0]["text"] == "data\n" and "execution" not in out["cells"][0]["metadata"]
    assert len(problems) == 1 and "/home/someone/" in problems[0]
