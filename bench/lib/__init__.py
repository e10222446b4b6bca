"""What the benchmarks share, so their numbers are taken the same way and can be compared.

- ``paths``: the repository, the results folder and the photos the benchmarks read;
- ``server``: a real ``camserve serve`` subprocess, its process and CPU time, the settings it is started with;
- ``photos``: test JPEGs, real where the catsdogs photos are present, generated otherwise;
- ``level``: one concurrency level against a running server, driven by wrk (``wrk``, and its Lua script);
- ``load_generator``: concurrent uploads from Python, for the benchmarks that need every answer;
- ``forward``: the bare forward a server is measured against;
- ``stage_costs``: sequential POSTs and the server's own stage times, from /metrics;
- ``stored_result``: a result as the service stores it, for timing the store alone;
- ``results``: medians over rounds, ratios and table cells;
- ``plots``: throughput and latency against concurrency;
- ``raw_http``: clients on a bare socket, as hostile ones are;
- ``cluster``: the test cluster (python -m scripts.cluster) for the benchmarks that need one.

How timings are taken and recorded (turns, ``timed``, the machine facts, ``write_results``) is
``camserve.models.evaluation.measurement``, shared with the release commands.
"""
