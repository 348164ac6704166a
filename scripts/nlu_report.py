"""Summarise `rasa test nlu --cross-validation`: macro-F1 and the weakest labels."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(folder: str) -> int:
    report = json.loads((Path(folder) / "intent_report.json").read_text())
    labels = {k: v for k, v in report.items() if isinstance(v, dict) and "f1-score" in v}
    # The labels of the data. A label only ever predicted (nlu_fallback, the
    # "not understood" answer) has no support: its misses already count
    # against the recall of the label that was meant, so it is not averaged in.
    per_label = {
        k: v
        for k, v in labels.items()
        if k not in ("macro avg", "weighted avg", "micro avg") and v["support"] > 0
    }
    macro = sum(v["f1-score"] for v in per_label.values()) / len(per_label)
    print(f"intent macro-F1 (5-fold cross-validation): {macro:.3f} over {len(per_label)} labels")
    errors_file = Path(folder) / "intent_errors.json"
    if errors_file.exists():
        errors = json.loads(errors_file.read_text())
        fallbacks = sum(1 for e in errors if e["intent_prediction"]["name"] == "nlu_fallback")
        print(f"  of {len(errors)} misses, {fallbacks} were 'please rephrase' (nlu_fallback)")
    print("weakest labels:")
    for name, values in sorted(per_label.items(), key=lambda kv: kv[1]["f1-score"])[:6]:
        print(f"  {name:<24} F1 {values['f1-score']:.3f}  (support {values['support']})")
    entity_file = Path(folder) / "CRFEntityExtractor_report.json"  # the learned entities
    if entity_file.exists():
        entities = json.loads(entity_file.read_text())
        if "macro avg" in entities:
            print(
                f"entity macro-F1 (dispute_reason, requested_outcome): "
                f"{entities['macro avg']['f1-score']:.3f}"
            )
    return 0 if macro >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "var/results/nlu"))
