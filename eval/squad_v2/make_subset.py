"""Rebuild this folder from the shared SQuAD 2.0 dev extract (run once; the outputs are committed).

    python eval/squad_v2/make_subset.py [/work/shared/eval/squad_v2_dev]

Writes, from questions_dev.jsonl / paragraphs.jsonl / corpus/ of the source folder:
  questions_test.jsonl  FIXED 200-question test subset (seed 20180601), stratified: 100 unanswerable + 100 answerable
  questions_dev.jsonl   400 OTHER questions (seed 7), 200 + 200, disjoint from the test subset: used for tuning only
  paragraphs.jsonl      the gold paragraphs of those 600 questions (the only paragraphs the scorer and metrics need)
  (the official-format data JSON is built at eval time by qa_bot.evaluation.squad.to_official)
  corpus/               the 35 source articles, unchanged (the retrieval corpus)
  evaluate-v2.0.py, LICENSE.md, LICENSE.SQuAD-explorer.MIT   copied verbatim
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/eval/squad_v2_dev")
TEST_SEED, DEV_SEED = 20180601, 7
TEST_PER_CLASS, DEV_PER_CLASS = 100, 200


def read_jsonl(p: Path) -> list[dict]:
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(p: Path, rows: list[dict]) -> None:
    p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def stratified(rows: list[dict], per_class: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for impossible in (True, False):
        pool = sorted((r for r in rows if r["is_impossible"] is impossible), key=lambda r: r["id"])
        out += rng.sample(pool, per_class)
    rng.shuffle(out)  # mixed order, so that --limit N takes both kinds
    return out


def main() -> None:
    questions = read_jsonl(SRC / "questions_dev.jsonl")
    paragraphs = {p["paragraph_id"]: p for p in read_jsonl(SRC / "paragraphs.jsonl")}
    test = stratified(questions, TEST_PER_CLASS, TEST_SEED)
    taken = {q["id"] for q in test}
    dev = stratified([q for q in questions if q["id"] not in taken], DEV_PER_CLASS, DEV_SEED)
    assert not taken & {q["id"] for q in dev}
    write_jsonl(HERE / "questions_test.jsonl", test)
    write_jsonl(HERE / "questions_dev.jsonl", dev)
    needed = sorted({q["gold_paragraph_id"] for q in test + dev})
    write_jsonl(HERE / "paragraphs.jsonl", [paragraphs[pid] for pid in needed])
    if (HERE / "corpus").exists():
        shutil.rmtree(HERE / "corpus")
    shutil.copytree(SRC / "corpus", HERE / "corpus", copy_function=shutil.copyfile)
    (HERE / "corpus").chmod(0o755)  # the source folder is read-only
    for f in ("evaluate-v2.0.py", "LICENSE.md", "LICENSE.SQuAD-explorer.MIT"):
        shutil.copyfile(SRC / f, HERE / f)
    print(
        f"test {len(test)} (impossible {sum(q['is_impossible'] for q in test)}), dev {len(dev)}, "
        f"paragraphs {len(needed)}"
    )


if __name__ == "__main__":
    main()
