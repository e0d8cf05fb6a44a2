"""Cross-validated figures of rules alone, model alone and rules + model (`make eval`, after the rules' figures).

5 folds over the shared corpus plus the agency's dev messages and written examples, per source and overall;
then the shipped model on the agency's held-out messages, which no model was trained on.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence

from core.dialogue.classifier import KeywordClassifier, load_rules
from core.dialogue.textmodel import STARTER_MODEL, configured_model
from core.learning.crossval import (
    IN_DOMAIN,
    IN_DOMAIN_WEIGHT,
    SOURCE_WEIGHT,
    Figures,
    Scored,
    choose_threshold,
    combine,
    cross_combined,
    figures,
    model_alone,
    out_of_fold,
    rule_verdicts,
    scored_rules,
)
from core.learning.data import AGENCY, EVAL_SET, read_jsonl, starter_data
from core.learning.fit import FitOptions, one_thread
from core.settings import Settings

SOURCES = ("stc3", "stc3_en", "cw", "shop", "htl", AGENCY)
# Confident answers at least this often right, on as many messages as possible (issue 15's targets).
TARGETS = (("stc3", 0.9), ("stc3_en", 0.9), (AGENCY, 0.95))


def _row(name: str, how: str, f: Figures) -> str:
    return (
        f"| {name} | {how} | {f.n} | {f.accuracy:.3f} | {f.macro_f1:.3f} | {f.f1['complaint']:.3f} | "
        f"{f.f1['inquiry']:.3f} | {f.f1['suggestion']:.3f} | {f.confident_share:.3f} | {f.confident_accuracy:.3f} |"
    )


HEADER = (
    "| set | classifier | n | accuracy | macro-F1 | complaint F1 | inquiry F1 | suggestion F1 | confident share | "
    "confident accuracy |\n|---|---|---|---|---|---|---|---|---|---|"
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.eval_learned", description=__doc__)
    parser.add_argument("--no-cv", action="store_true", help="only the held-out agency messages (no refitting)")
    parser.add_argument("--no-heldout", action="store_true", help="only the cross-validated figures")
    # The configuration before the fitted combination, to compare on the same folds.
    parser.add_argument("--ngram-high", type=int, default=FitOptions().ngram_range[1], help="longest n-gram")
    parser.add_argument("--no-sublinear", action="store_true", help="raw counts as term frequency")
    parser.add_argument("--c", type=float, default=FitOptions().c, help="inverse regularisation strength")
    parser.add_argument("--fixed-combination", action="store_true", help="rule scores added as they are (weight 1)")
    parser.add_argument("--in-domain-weight", type=float, default=IN_DOMAIN_WEIGHT, help="weight of an in-domain row")
    parser.add_argument(
        "--source-weight",
        action="append",
        default=[],
        metavar="SOURCE=WEIGHT",
        help="an in-domain source's own weight, repeatable (default: " + _pairs(SOURCE_WEIGHT) + ")",
    )
    parser.add_argument(
        "--class-weight",
        action="append",
        default=[],
        metavar="CLASS=FACTOR",
        help="how much more a class's rows count in the fit, repeatable (default: "
        + _pairs(dict(FitOptions().class_weight))
        + ")",
    )
    args = parser.parse_args(argv)
    settings = Settings()
    rules = KeywordClassifier(load_rules(settings.config_dir / "keywords.yaml"), settings.dialogue.classifier_threshold)
    model = configured_model(settings.config_dir, settings.dialogue.classifier_model or STARTER_MODEL)
    if model is None:
        print("eval: no model configured", file=sys.stderr)
        return 2
    threshold = model.threshold

    def served(s: Scored) -> bool:
        """Confident as served: the threshold, and the unruled one where no rule gave evidence."""
        return model.confident_at(s.confidence, s.ruled)

    print(f"model {model.version}: {len(model.features)} n-grams, threshold {threshold}")
    print(HEADER)
    if not args.no_cv:
        rows = starter_data()
        by_source = dict(SOURCE_WEIGHT) | _parsed(args.source_weight)
        class_weight = dict(FitOptions().class_weight) | _parsed(args.class_weight)
        options = FitOptions(
            ngram_range=(1, args.ngram_high),
            sublinear=not args.no_sublinear,
            c=args.c,
            class_weight=tuple(sorted(class_weight.items())),
        )
        with one_thread():
            classes, logits = out_of_fold(rows, options, in_domain=args.in_domain_weight, by_source=by_source)
        verdicts = rule_verdicts(rows, rules)
        by_rules = scored_rules(rows, rules)
        by_model = [Scored(r.label, r.source, *model_alone(classes, z)) for r, z in zip(rows, logits, strict=True)]
        if args.fixed_combination:
            combined = [combine(classes, z, v) for z, v in zip(logits, verdicts, strict=True)]
        else:
            combined = cross_combined(rows, classes, logits, verdicts)
        both = [Scored(r.label, r.source, *c, ruled=v.ruled) for r, c, v in zip(rows, combined, verdicts, strict=True)]
        groups = [*((s, (s,)) for s in SOURCES), ("in-domain", IN_DOMAIN), ("all", SOURCES)]
        for name, sources in groups:
            pick = [i for i, r in enumerate(rows) if r.source in sources]
            print(_row(f"cv {name}", "rules", figures([by_rules[i] for i in pick], 0.5)))
            print(_row(f"cv {name}", "model", figures([by_model[i] for i in pick], threshold)))
            print(_row(f"cv {name}", "rules + model", figures([both[i] for i in pick], served)))
        # The targets are points of each source's own precision-coverage curve (rules + model).
        for source, target in TARGETS:
            point, coverage, precision = choose_threshold([s for s in both if s.source == source], target)
            print(
                f"cv {source}, rules + model: {precision:.1%} right at {coverage:.1%} coverage (threshold {point:.3f})"
            )
    if args.no_heldout:
        return 0
    heldout = read_jsonl(EVAL_SET, AGENCY, splits=("heldout",))
    shipped = KeywordClassifier(load_rules(settings.config_dir / "keywords.yaml"), model=model)
    print(_row("agency held-out", "rules", figures(scored_rules(heldout, rules), 0.5)))
    print(
        _row(
            "agency held-out",
            "model",
            figures([Scored(r.label, r.source, *_top(model.predict_proba(r.text))) for r in heldout], threshold),
        )
    )
    verdicts = [shipped.classify(r.text) for r in heldout]
    both_heldout = [
        Scored(r.label, r.source, v.category, v.confidence, ruled=v.ruled)
        for r, v in zip(heldout, verdicts, strict=True)
    ]
    print(_row("agency held-out", "rules + model", figures(both_heldout, served)))
    # The held-out target is a point of its own curve too, as for the cross-validated sources above.
    point, coverage, precision = choose_threshold(both_heldout, dict(TARGETS)[AGENCY])
    print(f"agency held-out, rules + model: {precision:.1%} right at {coverage:.1%} coverage (threshold {point:.3f})")
    return 0


def _parsed(pairs: Sequence[str]) -> dict[str, float]:
    return {k: float(v) for k, v in (p.split("=", 1) for p in pairs)}


def _pairs(weights: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(weights.items()))


def _top(probs: dict[str, float]) -> tuple[str, float]:
    best = max(probs, key=probs.__getitem__)
    return best, probs[best]


if __name__ == "__main__":
    raise SystemExit(main())
