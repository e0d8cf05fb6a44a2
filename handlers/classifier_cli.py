"""`kefu classifier train`: fit the learned model behind the keyword rules and export it as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from core.dialogue.classifier import KeywordClassifier, load_rules
from core.dialogue.textmodel import STARTER_MODEL
from core.learning.data import AGENCY, DEFAULT_CORPUS, EVAL_SET, EXAMPLES, dedupe, read_corpus, read_jsonl
from core.learning.fit import FitOptions
from core.settings import Settings

classifier_app = typer.Typer(help="The learned classifier model: train and export", no_args_is_help=True)


@classifier_app.command("train")
def classifier_train(
    out: Annotated[Path | None, typer.Option(help="Model file to write (default: the configured one)")] = None,
    corpus: Annotated[
        Path, typer.Option(help="The shared labelled corpus (TSV: text, label, source)")
    ] = DEFAULT_CORPUS,
    agency_only: Annotated[
        bool, typer.Option("--agency-only", help="Train on the agency's own labelled messages only, no shared corpus")
    ] = False,
    labels: Annotated[
        list[Path] | None, typer.Option(help="More labelled messages (JSONL with text and label); repeatable")
    ] = None,
    max_features: Annotated[int, typer.Option(help="n-grams kept after pruning")] = FitOptions().max_features,
    draft: Annotated[
        bool,
        typer.Option(
            "--draft",
            help="Fit a draft in the database on the starter data plus the deployment's confirmed labels "
            "(held back: the newest 20 %), for admins to replay and publish in the console",
        ),
    ] = False,
    note: Annotated[str, typer.Option(help="The draft's note (with --draft)")] = "",
) -> None:
    """Fit TF-IDF over character n-grams and a logistic regression (fixed seed); choose the threshold; export."""
    from core.learning.train import save, train

    settings = Settings()
    if draft:
        _train_draft(settings, note)
        return
    rows = [] if agency_only else read_corpus(corpus)
    rows += read_jsonl(EVAL_SET, AGENCY, splits=("dev",))
    rows += read_jsonl(EXAMPLES, AGENCY)
    for path in labels or []:
        rows += read_jsonl(path, AGENCY)
    rows = dedupe(rows)
    rules = KeywordClassifier(load_rules(settings.config_dir / "keywords.yaml"))
    trained = train(rows, rules, FitOptions(max_features=max_features))
    target = out or settings.config_dir / (settings.dialogue.classifier_model or STARTER_MODEL)
    size = save(trained, target)
    model = trained.model
    typer.echo(
        f"{target}: version {model.version}, {len(model.features)} n-grams, {size:,} bytes; "
        f"{len(rows)} messages in {trained.seconds:.0f} s; threshold {model.threshold} "
        f"(confident answers {trained.precision:.1%} right on {trained.coverage:.1%} of in-domain messages)"
    )


def _train_draft(settings: Settings, note: str) -> None:
    import asyncio

    from handlers.classifier_training import train_and_store
    from handlers.services import build_services

    async def run() -> tuple[int, dict[str, Any]]:
        services = build_services(settings)
        await services.start(migrate=False)
        try:
            row = await train_and_store(services, note=note or "kefu classifier train --draft", in_process=True)
            return row.number, row.report
        finally:
            await services.stop()

    number, report = asyncio.run(run())
    figures = report["draft"]
    typer.echo(
        f"draft model {number}: {report['trained_on']} trained on, {figures['n']} held-back labels, "
        f"{report['seconds']:.0f} s; accuracy {figures['accuracy']:.1%}, threshold {report['threshold']} "
        f"(confident answers {figures['precision']:.1%} right on {figures['coverage']:.1%}); "
        f"model in force: accuracy {report['in_force']['accuracy']:.1%}. Publish it in the console."
    )
