"""``camserve predict``: classify local photos without a server, with the API's result JSON and overlays."""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from camserve.models.inference.decode import PhotoRejected
from camserve.models.inference.preprocess import prepare
from camserve.models.runtimes import load_predictor
from camserve.service.render import Colormap, Picture, RenderRequest, render
from camserve.service.results import classify
from camserve.service.settings import ModelSettings


def run(args: argparse.Namespace, settings: ModelSettings) -> int:
    predictor = load_predictor(settings.backend, settings.runtime_request())
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
        (prediction,) = predictor.predict(prepared.pixels[None])
        classification = classify(prediction, predictor.metadata, prepared.width, prepared.height)
        result: dict[str, Any] = {"photo": str(path), **classification.model_dump(mode="json")}
        if args.overlay_dir:
            overlay_path = args.overlay_dir / f"{path.stem}.overlay.png"
            request = RenderRequest(Picture.overlay, args.alpha, args.colormap, None)
            png = render(data, prediction.class_maps, prediction.probabilities, request, settings.max_pixels, 6)
            overlay_path.write_bytes(png)
            result["overlay"] = str(overlay_path)
        results.append(result)
        if not args.json:
            print(f"{path}: {classification.label} ({classification.confidence:.1%})")
    if args.json:
        print(json.dumps(results, indent=2))
    if not predictor.metadata.trained:
        print("warning: the weights are marked UNTRAINED; their answers mean nothing", file=sys.stderr)
    return 1 if failures else 0


def add_parser(commands: Any) -> None:
    predict = commands.add_parser("predict", help="classify photos offline, without a server")
    predict.add_argument("photos", nargs="+", type=Path, metavar="PHOTO")
    predict.add_argument("--overlay-dir", type=Path, help="write PHOTO.overlay.png files here")
    predict.add_argument("--json", action="store_true", help="print results as JSON (the API's fields, per photo)")
    predict.add_argument("--alpha", type=float, default=0.5, help="heatmap opacity in overlays")
    predict.add_argument("--colormap", type=Colormap, default=Colormap.jet, choices=list(Colormap))
    predict.set_defaults(handler=run)
