"""``camserve``: serve the HTTP API, or predict offline on local photos."""

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from models.checkpoint import CheckpointError
from service.app import create_app, load_predictor
from service.decode import PhotoRejected
from service.pipeline import Picture, RenderRequest, prepare, render
from service.render import Colormap
from service.settings import Settings
from service.training_commands import add_training_commands


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = settings.model_copy(update=overrides)
    predictor = load_predictor(settings)
    uvicorn.run(
        create_app(settings, predictor),
        host=settings.host,
        port=settings.port,
        timeout_keep_alive=settings.keep_alive_s,
        log_level="info",
    )
    return 0


def _predict(args: argparse.Namespace, settings: Settings) -> int:
    predictor = load_predictor(settings)
    names = predictor.metadata.class_names
    if args.overlay_dir:
        args.overlay_dir.mkdir(parents=True, exist_ok=True)
    results, failures = [], 0
    for path in args.photos:
        try:
            data = path.read_bytes()
            prepared = prepare(data, predictor.metadata, settings.max_pixels)
        except (OSError, PhotoRejected) as error:
            print(f"{path}: error: {error}", file=sys.stderr)
            failures += 1
            continue
        (prediction,) = predictor.predict(prepared.tensor.unsqueeze(0))
        label = names[prediction.label_index()]
        result = {
            "photo": str(path),
            "label": label,
            "confidence": float(prediction.probabilities.max()),
            "probabilities": dict(zip(names, map(float, prediction.probabilities), strict=True)),
            "width": prepared.width,
            "height": prepared.height,
            "trained": predictor.metadata.trained,
        }
        if args.overlay_dir:
            overlay_path = args.overlay_dir / f"{path.stem}.overlay.png"
            request = RenderRequest(Picture.overlay, args.alpha, args.colormap, None)
            png = render(data, prediction.class_maps, prediction.probabilities, request, settings.max_pixels, 6)
            overlay_path.write_bytes(png)
            result["overlay"] = str(overlay_path)
        results.append(result)
        if not args.json:
            print(f"{path}: {label} ({result['confidence']:.1%})")
    if args.json:
        print(json.dumps(results, indent=2))
    if not predictor.metadata.trained:
        print("warning: the weights are marked UNTRAINED; their answers mean nothing", file=sys.stderr)
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="camserve", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP service (settings from CAMSERVE_* variables)")
    serve.add_argument("--host", help="interface to listen on (default: CAMSERVE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: CAMSERVE_PORT or 8000)")
    serve.set_defaults(handler=_serve)

    predict = commands.add_parser("predict", help="classify photos offline, without a server")
    predict.add_argument("photos", nargs="+", type=Path, metavar="PHOTO")
    predict.add_argument("--overlay-dir", type=Path, help="write PHOTO.overlay.png files here")
    predict.add_argument("--json", action="store_true", help="print results as JSON")
    predict.add_argument("--alpha", type=float, default=0.5, help="heatmap opacity in overlays")
    predict.add_argument("--colormap", type=Colormap, default=Colormap.jet, choices=list(Colormap))
    predict.set_defaults(handler=_predict)

    add_training_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"camserve: error: invalid CAMSERVE_* settings:\n{error}", file=sys.stderr)
        return 2
    try:
        return args.handler(args, settings)
    except (CheckpointError, RuntimeError) as error:
        print(f"camserve: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
