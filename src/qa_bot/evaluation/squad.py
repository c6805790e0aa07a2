"""SQuAD-style scoring (EM/F1), the official-format data file, the official scorer, and short-answer extraction.

EM and F1 follow evaluate-v2.0.py exactly (lower case, no punctuation, no articles; an empty prediction is an
abstention and scores 1 only against an unanswerable question), so our numbers and the official script's agree.
"""

from __future__ import annotations

import collections
import json
import re
import string
import subprocess
import sys
from pathlib import Path

from qa_bot.answer_format import strip_markers

# Re-exported: SQuAD predictions are short spans.
from qa_bot.verify.answer_types import question_kind, short_answer  # noqa: F401

_PUNCT = set(string.punctuation)


def normalize(s: str) -> str:
    """evaluate-v2.0.py's normalize_answer, verbatim in behaviour."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _tokens(s: str) -> list[str]:
    return normalize(s).split() if s else []


def exact(gold: str, pred: str) -> int:
    return int(normalize(gold) == normalize(pred))


def f1(gold: str, pred: str) -> float:
    g, p = _tokens(gold), _tokens(pred)
    if not g or not p:
        return float(g == p)
    same = sum((collections.Counter(g) & collections.Counter(p)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def best_em_f1(golds: list[str], pred: str) -> tuple[int, float]:
    """Max over gold answers, as the official script does; no gold answers means unanswerable (gold = "")."""
    golds = [g for g in golds if normalize(g)] or [""]
    return max(exact(g, pred) for g in golds), max(f1(g, pred) for g in golds)


_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}


def _answer_tokens(s: str) -> list[str]:
    """SQuAD-normalised tokens for judging correctness: number words as digits, and no "and", so "4" answers "four"
    and "obesity, alcoholism, drug use" answers "obesity, alcoholism, and drug use"."""
    return [_NUMBER_WORDS.get(t, t) for t in normalize(s).split() if t != "and"]


def contains(golds: list[str], text: str, question: str = "") -> bool:
    """Whether the text gives a gold answer: some gold answer occurs, as whole tokens, inside it (after
    ``_answer_tokens``), or, given the question, the text is that gold answer without the words the question already
    says ("Three" for "For how many years in a row ...?", gold "three years"). The second form only accepts a text
    made of the gold's and the question's words, so it does not pass a longer answer that happens to end in one."""
    hay = _answer_tokens(strip_markers(text))
    joined = f" {' '.join(hay)} "
    asked = set(_answer_tokens(question))
    for g in golds:
        gold = _answer_tokens(g)
        if not gold:
            continue
        if f" {' '.join(gold)} " in joined:
            return True
        rest = [t for t in gold if t not in asked]
        if rest and len(rest) < len(gold) and f" {' '.join(rest)} " in joined and set(hay) <= set(gold) | asked:
            return True
    return False


def draft_is_right(answers: list[str], draft: str, question: str, is_impossible: bool) -> bool:
    """The label the abstention model is fitted to: a draft answer that gives a gold answer to an answerable question
    (any draft to an unanswerable one is wrong)."""
    return bool(draft) and not is_impossible and contains(answers, draft, question)


# --- the official scorer -----------------------------------------------------------------------------------------
def to_official(questions: list[dict], paragraphs: dict[str, dict]) -> dict:
    """The dev-v2.0.json layout evaluate-v2.0.py reads (data[].paragraphs[].qas[]), for a subset of questions."""
    articles: dict[str, dict[str, dict]] = {}
    for q in questions:
        p = paragraphs[q["gold_paragraph_id"]]
        para = articles.setdefault(p["doc_id"], {}).setdefault(p["paragraph_id"], {"context": p["text"], "qas": []})
        para["qas"].append(
            {
                "id": q["id"],
                "question": q["question"],
                "is_impossible": bool(q["is_impossible"]),
                "answers": [{"text": a, "answer_start": p["text"].find(a)} for a in q["answers"]],
            }
        )
    return {
        "version": "v2.0",
        "data": [{"title": t, "paragraphs": list(ps.values())} for t, ps in sorted(articles.items())],
    }


def run_official(scorer: Path, data: dict, predictions: dict[str, str], out_dir: Path) -> dict:
    """Write the data and predictions files, run evaluate-v2.0.py on them, return its JSON output."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data_file, pred_file, eval_file = (
        out_dir / "squad_data-v2.0.json",
        out_dir / "squad_predictions.json",
        out_dir / "squad_official.json",
    )
    data_file.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    pred_file.write_text(json.dumps(predictions, ensure_ascii=False, indent=1), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(scorer), str(data_file), str(pred_file), "--out-file", str(eval_file)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"evaluate-v2.0.py failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return json.loads(eval_file.read_text(encoding="utf-8"))
