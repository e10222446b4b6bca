"""camserve's benchmarks: each module here is one, run from the repository root as ``python -m bench.NAME``.

What they share (a real server, photos, the load generator, results and plots) is ``bench.lib``; README.md
says what each benchmark answers, when to run it and what it writes.
"""
