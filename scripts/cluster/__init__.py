"""A local camserve cluster on 127.0.0.1: PostgreSQL, SeaweedFS's S3 gateway, N stateless camserve replicas
sharing them, and HAProxy in front. Every process it starts is recorded by PID in the cluster dir and stopped by
that PID. tests/scripts/test_cluster.py drives it (through tests/support/cluster.py); benchmarks and store work
can use it by hand. Run it from the repository root, with the project's venv::

    python -m scripts.cluster up [--services-only]     start (--services-only: PostgreSQL and S3 alone)
    python -m scripts.cluster down [--keep]            stop all it started; remove the dir unless --keep
    python -m scripts.cluster status                   each process alive or not, each /readyz status
    python -m scripts.cluster stop-db | start-db | restart-db    PostgreSQL off and on, same data dir and port
    python -m scripts.cluster kill-replica N           SIGKILL replica N (1 to REPLICAS)
    python -m scripts.cluster start-replica N          start replica N again on its port; wait for /readyz

Every command but up needs CLUSTER_DIR, the directory up prints.

up, in order, waiting for each piece to answer before the next (on failure: the piece's log tail, then
everything it started is stopped and the dir kept for its logs):

1. Installs postgresql and haproxy with apt where missing (as root; weed comes from the venv).
2. PostgreSQL: a throwaway cluster (initdb; scram passwords over TCP; fsync on), role and database "camserve"
   with a random password; the role may create databases (store tests make one each). As root, PostgreSQL's
   programs run as the postgres user.
3. SeaweedFS: weed mini, every port it opens chosen and bound to 127.0.0.1, no telemetry, no WebDAV, no admin UI
   (its server still listens), one identity from a random key pair; the bucket created with boto3, which must
   then answer.
4. Replica 1 alone: it times the runtimes once for all (CAMSERVE_RUNTIME_CACHE_DIR is shared) and migrates the
   schema; then the others together. All serve the weights CAMSERVE_WEIGHTS_PATH names (the shipped ones).
5. HAProxy (scripts/haproxy.cfg.template: health checks on /readyz, retries only for failed connections).

Environment for up: CLUSTER_DIR (default a new temporary dir; else empty or absent), REPLICAS (2), LB_PORT,
PG_PORT, S3_PORT, REPLICA_PORTS ("P1 P2 ..."; by default free ports), BLOBS (s3, or db: photos kept in
PostgreSQL), STORE (postgresql, or sqlite: each replica its own SQLite file, no shared store: the balancer
alone), READY_TIMEOUT_S (180), VENV (the running interpreter's). CAMSERVE_* variables of the caller reach the
replicas; CAMSERVE_RUNTIME_CACHE_DIR and CAMSERVE_ONNX_CACHE_DIR default to dirs in the cluster dir.

$CLUSTER_DIR/cluster.env: KEY=value lines, values without spaces or quotes, so `set -a; . cluster.env` or a
plain split on the first "=" reads them. CLUSTER_DIR, CLUSTER_STORE, CLUSTER_PG_PORT, CLUSTER_PG_DATA,
CLUSTER_PG_SOCKET_DIR, CLUSTER_S3_PORT, CLUSTER_BUCKET, CAMSERVE_STORE_URL, CAMSERVE_BLOB_URL (BLOBS=s3),
AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, CAMSERVE_RUNTIME_CACHE_DIR,
CAMSERVE_ONNX_CACHE_DIR; and without --services-only: CLUSTER_REPLICAS, CLUSTER_REPLICA_<n>_PORT,
CLUSTER_REPLICA_<n>_URL (n from 1), CLUSTER_LB_PORT and CLUSTER_URL (the balancer). Logs are in logs/, PIDs in
pids/ (postgres, weed, replica-<n>, haproxy), HAProxy's configuration in haproxy.cfg.
"""
