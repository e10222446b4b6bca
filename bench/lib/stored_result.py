"""A result as the service stores it, for the benchmarks that time the store without a server.

Every put in those benchmarks stores this one result under a new id: its size, not its content, is what a
put costs, and it is the size of a real answer's (label, probabilities, model, links and timings).
"""

from collections.abc import Sequence

from camserve.service.schemas import Links, ModelInfo, PredictionResult, Timings

RESULT_ID = "benchmark"


def stored_result(class_names: Sequence[str]) -> PredictionResult:
    """The first class's answer, at an even split between all of them."""
    share = 1.0 / len(class_names)
    return PredictionResult(
        id=RESULT_ID,
        label=class_names[0],
        confidence=share,
        probabilities=dict.fromkeys(class_names, share),
        width=500,
        height=375,
        model=ModelInfo(name="camserve", version="0.0.0-bench", trained=True),
        created_at="2026-01-01T00:00:00.000+00:00",
        links=Links.for_prediction(RESULT_ID),
        timings=Timings(decode_ms=1.0, inference_ms=50.0, total_ms=52.0),
    )
