"""The Open Inference Protocol v2 (KServe v2, Triton's HTTP/REST API) for camserve's models: the JSON shapes
(``messages``), the body with the binary tensor extension (``codec``), and what a model takes and gives
(``signature``). No FastAPI here: the routes are ``service/routes/open_inference.py``."""
