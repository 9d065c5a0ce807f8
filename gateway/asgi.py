"""ASGI entry point for servers: ``uvicorn gateway.asgi:app``."""

from gateway.app import create_app
from gateway.gc_tuning import tune_garbage_collector

app = create_app()
tune_garbage_collector()
