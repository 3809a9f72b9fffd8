"""A CF-only install (no [llm], [app] or [eval] extra) works, and names the extra it lacks."""

import subprocess
import sys

BLOCKER = """
import importlib.abc, sys
BLOCKED = {"torch", "transformers", "peft", "accelerate", "bitsandbytes", "safetensors",
           "gradio", "pandas", "sacrebleu", "rouge_score"}
class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _Blocked())
"""

SCRIPT = """
import json
import convrec, convrec.cf, convrec.data, convrec.evaluation
from convrec import Recommender
from convrec.cli import main
from convrec.data import load_dataset
from convrec.evaluation import run_protocol, select_models

data = load_dataset("ml-100k")
report = run_protocol(data, "A", select_models("A", "references"))
print("rmse", round(report.to_json()["models"]["bias_baseline"]["rmse"], 4))
print("build", Recommender.build(data).recommend(user="42", k=3)[0].title)
rec = Recommender.from_pretrained("ml-100k", llm=False)
print("pretrained", rec.recommend(user="42", k=3)[0].title)
print("data", main(["data", "--data", "ml-100k", "--json"]))
print("recommend", main(["recommend", "--data", "ml-100k", "--user", "42", "-k", "3",
                         "--adapter", "none"]))
print("eval", main(["eval", "--data", "ml-100k", "--protocol", "B", "--models", "cf_itemknn"]))
print("default adapter", main(["recommend", "--data", "ml-100k", "--user", "42"]))
print("train", main(["train", "--data", "ml-100k", "--out", "unused"]))
print("chat", main(["chat"]))
from convrec.evaluation.metrics import explanation_metrics
try:
    explanation_metrics(["a good film"], ["a good film"])
except ImportError as exc:
    print("metrics:", exc)
print("blocked loaded", sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
"""


def test_cf_only_use_without_the_optional_extras():
    out = subprocess.run(
        [sys.executable, "-c", BLOCKER + SCRIPT], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    assert "rmse 0.9439" in out.stdout
    assert "build The Rock (1996)" in out.stdout and "pretrained The Rock (1996)" in out.stdout
    assert "data 0" in out.stdout and "recommend 0" in out.stdout and "eval 0" in out.stdout
    assert "Top 3 for user 42:" in out.stdout and "cf_itemknn" in out.stdout
    assert "blocked loaded []" in out.stdout
    # an optional part used without its extra: exit 2 and one line naming the extra
    assert "default adapter 2" in out.stdout and "train 2" in out.stdout
    assert "chat 2" in out.stdout
    err = out.stderr.splitlines()
    missing = "the LLM needs torch, which is not installed: "
    llm = 'pip install "convrec[llm]"'
    assert f"convrec recommend: error: {missing}{llm} (or --adapter none: CF only)" in err
    assert f"convrec train: error: {missing}{llm}" in err
    app = 'this needs gradio, which is not installed: pip install "convrec[app]"'
    assert f"convrec chat: error: {app}" in err
    metrics = "explanation metrics need sacrebleu, which is not installed"
    assert f'metrics: {metrics}: pip install "convrec[eval]"' in out.stdout
    assert "Traceback" not in out.stderr
