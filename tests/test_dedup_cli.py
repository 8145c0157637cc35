"""`newspipe dedup` as users run it, and the engine on the shared evaluation set when
it is present."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from conftest import shared_data
from dedup_corpus import EARNINGS_TRAPS, EDIT_FAMILIES, story, text
from test_cli import newspipe


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_dedup_command_groups_a_corpus(tmp_path):
    original = story(31)
    rows = [{"id": "orig", "text": text(original), "source": "Wire", "role": "wire",
             "published_at": "2024-05-01T08:00:00Z"},
            {"id": "cut", "text": text(EDIT_FAMILIES["truncate"](original)),
             "published_at": "2024-05-01T07:00:00Z"},
            {"id": "typo", "text": text(EDIT_FAMILIES["typography"](original))},
            *({"id": f"brief{n}", "text": body} for n, body in enumerate(EARNINGS_TRAPS))]
    write_jsonl(tmp_path / "in.jsonl", rows)
    done = newspipe("dedup", "in.jsonl", "--output", "out.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = {r["id"]: r for r in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    assert list(out) == [r["id"] for r in rows]
    assert set(out["orig"]) == {"id", "cluster", "canonical", "similarity"}
    assert out["cut"]["cluster"] == out["typo"]["cluster"] == out["orig"]["cluster"]
    assert out["orig"]["canonical"] and not out["cut"]["canonical"]
    assert out["orig"]["similarity"] == 1.0 and 0 < out["cut"]["similarity"] < 1
    assert len({out[f"brief{n}"]["cluster"] for n in range(4)}) == 4
    assert not (tmp_path / "newspipe.db").exists(), "a temporary store unless --db"


def test_dedup_command_into_a_store_and_to_stdout(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": text(story(32))},
                                        {"id": 2, "text": text(story(32)[:5])},
                                        {"id": 3, "text": "..."}])
    db = f"sqlite:///{tmp_path / 'kept.db'}"
    done = newspipe("dedup", "in.jsonl", "--db", db, "--threshold", "0.9", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    first = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["id"] for r in first] == ["1", "2", "3"]
    assert first[0]["cluster"] == first[1]["cluster"]
    assert first[2] == {"id": "3", "cluster": None, "canonical": False, "similarity": None,
                        "error": "dedup failed: the text has no words"}
    again = newspipe("dedup", "in.jsonl", "--db", db, cwd=tmp_path)
    assert [json.loads(line) for line in again.stdout.splitlines()] == first


def test_dedup_command_bad_input_is_one_line(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"id": 1, "text": "fine"}\n{"id": 2}\n')
    done = newspipe("dedup", "bad.jsonl", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: bad.jsonl:2: a row needs an 'id' and a string 'text'"
    (tmp_path / "twice.jsonl").write_text('{"id": 1, "text": "a"}\n\n{"id": "1", "text": "b"}\n')
    twice = newspipe("dedup", "twice.jsonl", cwd=tmp_path)
    assert twice.returncode == 1
    assert twice.stderr.strip() == "error: twice.jsonl:3: id '1' repeats line 1"
    missing = newspipe("dedup", "nothing.jsonl", cwd=tmp_path)
    assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1


def test_dev_set_quality_when_present(tmp_path):
    """The quality target on ../shared/data/dedup-dev (a third of it), through the
    benchmark's own code: F1 >= 0.98, no trap merged."""
    data = shared_data("dedup-dev")
    bench = Path(__file__).resolve().parents[1] / "bench" / "eval_dedup.py"
    spec = importlib.util.spec_from_file_location("eval_dedup", bench)
    evaluation = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(evaluation)
    docs, gold, meta = evaluation.load(data, quick=True)
    predicted = evaluation.run_newspipe(docs, f"sqlite:///{tmp_path / 'eval.db'}")
    assert evaluation.pair_scores(gold, predicted)["f1"] >= 0.98
    assert evaluation.trap_false_merges(gold, predicted, meta) == 0
