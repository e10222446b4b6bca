"""Where the benchmarks read photos from and write results to, wherever they are run from."""

from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
RESULTS_DIR = REPOSITORY / "bench" / "results"
CHELSEA = REPOSITORY / "tests" / "chelsea.png"
# Research-only photos beside the checkout; the benchmarks generate photos where they are absent.
CATSDOGS = REPOSITORY.parent / "shared" / "data" / "catsdogs"
