"""Recompute, with today's code, the decision signals of recorded dev answers that need retrieval but no model call.

``premise`` and ``agreement`` depend on the retrieved documents, the sentence scoring and the question's key terms,
not on the model: a change to how they are computed needs no new (slow) dev run. For each recorded answer, the
question is retrieved again (checked against the recorded chunk ids), the sentences are scored as the chain scores
them, and ``compute_signals`` is called as the chain calls it, with the recorded draft and the recorded values of the
model's checks; every other signal is compared with the recorded one (they must agree). Writes
``<out>/results.json`` for ``fit_abstention.py``::

    python eval/recompute_signals.py eval/results/dev-seeds-quote-check/results.json --docs seeds \
        --out eval/results/dev-seeds-doc-terms
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from qa_bot import QABot
from qa_bot.config import Settings, get_settings
from qa_bot.generation.prompts import data_hits
from qa_bot.retrieval.evidence import agreement_sentences, known_terms, score_sentences
from qa_bot.verify.abstain import compute_signals

RECOMPUTED = ("premise", "agreement")


def recompute(results: Path, settings: Settings, out: Path, docs: Path | None = None) -> int:
    """Recompute into ``out/results.json``; ``docs`` is indexed into the store first (unchanged files are skipped)."""
    data = json.loads(results.read_text())
    changed = dict.fromkeys(RECOMPUTED, 0)
    n = moved = 0
    with QABot(settings) as service:
        if docs is not None:
            service.ingest([docs])
        bot = service.bot
        for r in data["results"]:
            old = r.get("signals")
            if not old or r.get("error") or not r.get("citations"):
                continue  # no decision was made (or the refusal dropped the citations it was made on)
            q = r["standalone_question"] or r["question"]
            hits = bot.retrieve(q, None)
            if [h.chunk.chunk_id for h in hits] != [h["chunk_id"] for h in r["hits"]]:
                moved += 1  # retrieval differs from the recorded run: keep what was recorded
                continue
            documents = bot.document_terms(hits)
            scored = score_sentences(
                q, data_hits(hits), bot.embedder, settings.retrieval.evidence_lexical_weight, documents
            )
            cites = r["citations"]
            new = compute_signals(
                q,
                r["draft"],
                [c["quote"] for c in cites],
                known_terms(hits, documents),
                self_check=old["self_check"],
                support=old["support"],
                retrieval=old["retrieval"],
                evidence_score=old["evidence_score"],
                best_sentences=agreement_sentences(scored, settings.verification.agreement_sentences),
                evidence_answers=old["evidence_answers"],
                first_token=old["first_token"],
                consistency=old.setdefault("consistency", 0.5),  # runs before the signal: not computed
            )
            for name, value in vars(new).items():
                if name in RECOMPUTED:
                    changed[name] += abs(value - old[name]) > 1e-9
                    old[name] = value
                elif name != "type_match" and abs(value - old[name]) > 1e-3:  # type_match: fit_abstention redoes it
                    raise SystemExit(f"{r['id']}: {name} recomputed {value:.4f}, recorded {old[name]:.4f}")
            n += 1
    data["signals_recomputed"] = f"{', '.join(RECOMPUTED)} by eval/recompute_signals.py from {results}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(data, indent=1, ensure_ascii=False))
    print(f"{n} answers recomputed ({moved} kept: retrieval moved); changed: {changed}; wrote {out / 'results.json'}")
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--docs", type=Path, required=True, help="the documents the run answered from")
    ap.add_argument("--store", help="store folder (default /tmp/recompute-store-<docs name>)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if "test" in args.results.as_posix():
        print("dev runs only: the decision is fitted on dev data", file=sys.stderr)
        return 2
    store = args.store or f"/tmp/recompute-store-{args.docs.name}"
    recompute(args.results, get_settings().with_values(store_dir=store), args.out, args.docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
