"""``camserve release``: the evaluations a new checkpoint must pass before it replaces the shipped one, and the
release rule's verdict on them. ``scripts/candidate_report.sh`` runs them all, resumably.

Each measuring command writes its figures as JSON (``--output``), with the machine they were taken on, and
prints a short summary. The runtimes and the graph compiler load inside the handlers, so ``camserve`` starts
without them.
"""

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from camserve.cli.arguments import at_least, map_kinds
from camserve.models.evaluation import release_rule
from camserve.models.evaluation.input_sizes import SIZES, score_sizes, time_sizes
from camserve.models.evaluation.measurement import load_average_1m, machine_facts, write_results
from camserve.models.evaluation.photo_sets import PhotoSet, evaluate_set, release_sets
from camserve.models.inference.predictor import Predictor
from camserve.models.runtimes import RuntimeRequest, load_predictor
from camserve.service.settings import ModelSettings

Handler = Callable[[argparse.Namespace, ModelSettings], dict[str, Any]]


def _recorded(handler: Handler) -> Callable[[argparse.Namespace, ModelSettings], int]:
    """Run a measurement and write its figures to ``--output``, stamped with when and on what machine."""

    def run(args: argparse.Namespace, settings: ModelSettings) -> int:
        load_before = load_average_1m()
        measured_at = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            results = handler(args, settings)
        except (ValueError, FileNotFoundError) as error:
            print(f"camserve release {args.evaluation}: error: {error}", file=sys.stderr)
            return 2
        write_results(
            args.output, {"measured_at": measured_at, **results, **machine_facts(load_before, load_average_1m())}
        )
        print(f"wrote {args.output}")
        return 0

    return run


def _served(settings: ModelSettings) -> Predictor:
    """The checkpoint on the runtime and precision that would serve it (CAMSERVE_BACKEND, CAMSERVE_PRECISION)."""
    return load_predictor(settings.backend, settings.runtime_request())


def _reference(weights: Path) -> Predictor:
    """The PyTorch fp32 reference: what two checkpoints are compared on, whatever serves them."""
    return load_predictor("torch", RuntimeRequest(weights, device="cpu", precision="fp32"))


def _sets(args: argparse.Namespace) -> tuple[PhotoSet, ...]:
    return release_sets(args.data, args.fullres)


def sizes(args: argparse.Namespace, settings: ModelSettings) -> dict[str, Any]:
    predictor = _served(settings)
    scored = score_sizes(predictor, args.sizes, _sets(args), settings.max_pixels)
    photos = [path.read_bytes() for path in sorted(args.fullres.rglob("*.jpg"))[: args.cost_photos]]
    costs = time_sizes(predictor, args.sizes, photos, settings.batch_max_size, args.rounds, settings.max_pixels)
    table: dict[str, Any] = {}
    for size in args.sizes:
        table[str(size)] = {name: asdict(figures) for name, figures in scored[size].items()}
        table[str(size)]["cost"] = costs[size].to_dict()
        print(size, table[str(size)])
    served = {
        "runtime": predictor.runtime,
        "precision": predictor.precision,
        "trained_size": predictor.metadata.input_size,
    }
    return {"served": served, "sizes": table}


def versus(args: argparse.Namespace, settings: ModelSettings) -> dict[str, Any]:
    from camserve.models.evaluation.versus import compare_checkpoints

    compared = compare_checkpoints(
        (args.old, _reference(args.old)), (args.new, _reference(args.new)), _sets(args), settings.max_pixels
    )
    for name, figures in compared.sets.items():
        print(name, figures)
    sets = {name: asdict(figures) for name, figures in compared.sets.items()}
    return {"old": asdict(compared.old), "new": asdict(compared.new), **sets}


def localization(args: argparse.Namespace, settings: ModelSettings) -> dict[str, Any]:
    from camserve.models.evaluation.localization_versus import localization_versus

    annotations = args.annotations or args.data / "annotations.json"
    compared = localization_versus(
        (args.old, _reference(args.old)),
        (args.new, _reference(args.new)),
        args.data,
        annotations,
        args.kinds,
        settings.max_pixels,
    )
    for kind, differences in compared["differences"].items():
        print(kind, {side: compared[side]["kinds"][kind] for side in ("old", "new")}, differences)
    return compared


def tta(args: argparse.Namespace, settings: ModelSettings) -> dict[str, Any]:
    from camserve.models.evaluation.mirror_tta import mirror_cost, mirror_scores, model_inputs

    predictor = _served(settings)
    sets = _sets(args) if args.fullres else (PhotoSet("validation", args.data, True),)
    results: dict[str, Any] = {"served": {"runtime": predictor.runtime, "precision": predictor.precision}}
    for photos in sets:
        inputs, labels = model_inputs(predictor, photos, settings.max_pixels)
        results[photos.name] = asdict(mirror_scores(predictor, inputs, labels))
        print(photos.name, results[photos.name])
        if photos.validation:
            results["cost"] = asdict(mirror_cost(predictor, inputs[0], args.rounds))
            print("cost", results["cost"])
    return results


def zoom(args: argparse.Namespace, settings: ModelSettings) -> dict[str, Any]:
    from camserve.models.evaluation.zoom_tuning import tune_zoom

    predictor = _served(settings)
    tuned = tune_zoom(predictor, args.data, args.fullres, settings.max_pixels, args.cost_photos, args.rounds)
    print("tuning without zoom", tuned["tuning"]["without_zoom"])
    for name in ("lowest_log_loss", "cheap"):
        print(name, {key: tuned[name][key] for key in ("rule", "cost")})
    return {"served": {"runtime": predictor.runtime, "precision": predictor.precision}, **tuned}


def precision(args: argparse.Namespace, settings: ModelSettings) -> dict[str, Any]:
    from camserve.models.evaluation.precision_agreement import precision_agreement

    photos = PhotoSet("validation", args.data, True)
    reference_predictor = _served(settings.model_copy(update={"precision": "fp32"}))
    reference = evaluate_set(reference_predictor, photos, settings.max_pixels, args.limit, args.seed)
    other_predictor = _served(settings.model_copy(update={"precision": args.precision}))
    other = evaluate_set(other_predictor, photos, settings.max_pixels, args.limit, args.seed)
    agreement = precision_agreement(reference, other, args.precision)
    print(
        f"{args.precision} ({other_predictor.runtime}) agrees with fp32 on {agreement.label_agreement:.2%} of "
        f"{agreement.photos} photos; largest probability difference {agreement.max_probability_difference:.4f}"
    )
    return {"weights": str(settings.weights_path), **asdict(agreement)}


def graphs(args: argparse.Namespace, settings: ModelSettings) -> dict[str, Any]:
    from camserve.models.evaluation.graph_timing import parse_graph, summarise, time_graphs

    chosen = [parse_graph(text, settings.onnx_cache_dir) for text in args.graph]
    if len({graph.name for graph in chosen}) != len(chosen):
        raise ValueError("each --graph needs its own NAME")
    table = summarise(chosen, time_graphs(chosen, args.batches, args.rounds, args.reps))
    print(f"{'graph':<24}{'size':>5}{'batch':>6}{'ms':>9}{'ms/photo':>10}  ratio to {chosen[0].name} (median, min-max)")
    for batch in args.batches:
        for graph in chosen:
            row = table[graph.name][str(batch)]
            low, high = row["ratio_range"]
            print(
                f"{graph.name:<24}{graph.size:>5}{batch:>6}{row['median_ms']:>9.2f}{row['ms_per_photo']:>10.2f}  "
                f"{row['ratio_to_first']:.3f} ({low:.3f}-{high:.3f})"
            )
    return {"rounds": args.rounds, "reps": args.reps, "graphs": table}


def decide(args: argparse.Namespace, settings: ModelSettings) -> int:
    """Exit status 0 to ship, 1 not to; the conditions and their figures on standard output."""
    try:
        decision = release_rule.decide(args.report)
    except (FileNotFoundError, KeyError, json.JSONDecodeError) as error:
        print(f"camserve release decide: error: {args.report} is not a complete report: {error!r}", file=sys.stderr)
        return 2
    print(decision.format())
    return 0 if decision.ship else 1


def _batches(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated batch sizes like 1,8, got {text!r}") from error
    if min(values) < 1:
        raise argparse.ArgumentTypeError("each batch size must be at least 1")
    return values


def _photo_sets(parser: argparse.ArgumentParser, fullres_required: bool = True) -> None:
    parser.add_argument("--data", type=Path, required=True, help="the training image folder (its val split)")
    parser.add_argument(
        "--fullres", type=Path, required=fullres_required, help="full-resolution stand-ins of validation photos"
    )


def _measurement(commands: Any, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help_text, description=help_text)
    parser.add_argument("--output", type=Path, required=True, help="where the JSON figures go")
    parser.set_defaults(handler=_recorded(handler))
    return parser


def add_parser(commands: Any) -> None:
    release = commands.add_parser(
        "release",
        help="the evaluations a candidate checkpoint must pass before it ships, and the release rule's verdict",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluations = release.add_subparsers(dest="evaluation", required=True)

    parser = _measurement(
        evaluations,
        "sizes",
        sizes,
        "accuracy, log loss and forward cost of CAMSERVE_WEIGHTS_PATH at several input sizes, on the served runtime",
    )
    _photo_sets(parser)
    parser.add_argument("--sizes", type=at_least(32), nargs="+", default=list(SIZES), help="input sizes")
    parser.add_argument("--rounds", type=at_least(1), default=60, help="timed rounds over all sizes (default 60)")
    parser.add_argument("--cost-photos", type=at_least(1), default=20, help="full-resolution photos prepared in turn")

    parser = _measurement(
        evaluations,
        "versus",
        versus,
        "two checkpoints on the same photos (PyTorch fp32): scores, answers fixed and broken, paired intervals",
    )
    parser.add_argument("old", type=Path, help="the shipped checkpoint")
    parser.add_argument("new", type=Path, help="the candidate")
    _photo_sets(parser)

    parser = _measurement(
        evaluations,
        "localization",
        localization,
        "two checkpoints' maps on the same annotated photos (PyTorch fp32): pointing, head pointing, energy and "
        "IoU, and paired intervals of the candidate's minus the shipped one's",
    )
    parser.add_argument("old", type=Path, help="the shipped checkpoint")
    parser.add_argument("new", type=Path, help="the candidate")
    parser.add_argument("--data", type=Path, required=True, help="the annotated photos")
    parser.add_argument(
        "--annotations", type=Path, help="their outlines and head boxes (default DATA/annotations.json)"
    )
    parser.add_argument(
        "--kinds", type=map_kinds, default=["cam"], help="comma-separated map kinds (default cam: what the rule reads)"
    )

    parser = _measurement(
        evaluations, "tta", tta, "what mirror TTA gains (accuracy, log loss, ECE) and costs, on the served runtime"
    )
    _photo_sets(parser, fullres_required=False)
    parser.add_argument("--rounds", type=at_least(1), default=50, help="timed forwards of each kind (default 50)")

    parser = _measurement(
        evaluations,
        "zoom",
        zoom,
        "choose a CAM-guided zoom rule on tuning photos; its gain on held-out photos and its cost",
    )
    _photo_sets(parser)
    parser.add_argument("--cost-photos", type=at_least(1), default=20, help="zoomed stand-ins timed (default 20)")
    parser.add_argument("--rounds", type=at_least(1), default=3, help="timed passes over them (default 3)")

    parser = _measurement(
        evaluations,
        "precision",
        precision,
        "how often a reduced precision's answer matches fp32's on the validation photos, on CAMSERVE_BACKEND",
    )
    parser.add_argument("--data", type=Path, required=True, help="the training image folder (its val split)")
    parser.add_argument("--precision", default="bf16", choices=["bf16", "fp16"], help="compared with fp32")
    parser.add_argument("--limit", type=at_least(1), help="only this many validation photos, drawn at random")
    parser.add_argument("--seed", type=int, default=0, help="which photos --limit draws")

    parser = _measurement(
        evaluations, "graphs", graphs, "checkpoints' OpenVINO forwards timed in turns, each against the first"
    )
    parser.add_argument(
        "--graph", action="append", required=True, help="NAME=CHECKPOINT:PRECISION (fp32, bf16 or int8); repeat"
    )
    parser.add_argument("--batches", type=_batches, default=[1, 8], help="batch sizes (default 1,8)")
    parser.add_argument("--rounds", type=at_least(1), default=20, help="rounds of turns (default 20)")
    parser.add_argument("--reps", type=at_least(1), default=10, help="forwards per graph and batch in a round")

    parser = evaluations.add_parser(
        "decide",
        help="the release rule on a candidate report: exit 0 to ship, 1 not to",
        description=release_rule.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("report", type=Path, help="a scripts/candidate_report.sh folder")
    parser.set_defaults(handler=decide)
