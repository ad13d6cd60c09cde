"""gunicorn settings: gthread workers (the RPC client keeps one connection per thread)."""

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("GATEWAY_WORKERS", "2"))
threads = int(os.environ.get("GATEWAY_THREADS", "8"))
timeout = int(os.environ.get("GATEWAY_TIMEOUT", "30"))
graceful_timeout = 10
keepalive = 75  # longer than clients and load balancers keep idle connections
accesslog = os.environ.get("GATEWAY_ACCESS_LOG", "-")
# Query values that name a person (a phone searched with q=) and credentials stay out of
# the access log: gateway/access_log.py.
logger_class = "gateway.access_log.PrivateAccessLogger"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# gunicorn's control socket defaults to one file in $HOME shared by every gunicorn of the
# user; two gateways on one machine would remove each other's. We do not use it.
control_socket_disable = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


# Prometheus scrapes the metrics on a port of their own (unset: no metrics are served);
# the public port answers 404 for /metrics. Loopback unless told otherwise: a Kubernetes
# pod sets 0.0.0.0 and keeps the port out of its Service.
metrics_port = int(os.environ.get("PRM_METRICS_PORT") or 0)
metrics_host = os.environ.get("PRM_METRICS_HOST", "127.0.0.1")
_made_metrics_dirs = []


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_port and not directory:
        # The master serves the workers' counts: they must count into files it can read.
        # Set before any worker starts, so that each imports prometheus_client with it.
        import tempfile

        directory = tempfile.mkdtemp(prefix="prm-gateway-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        _made_metrics_dirs.append(directory)
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            os.remove(os.path.join(directory, name))


def when_ready(server):
    if metrics_port:
        from gateway.metrics import serve_metrics

        serve_metrics(metrics_port, metrics_host)
        server.log.info("metrics on http://%s:%s/metrics", metrics_host, metrics_port)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    import shutil

    for directory in _made_metrics_dirs:
        shutil.rmtree(directory, ignore_errors=True)
