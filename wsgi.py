"""The web process's entry point (``gunicorn wsgi:app``, ``flask --app wsgi``)."""

import gc

# Start-up creates some hundred thousand objects that live as long as the process
# (modules, classes, mappers, routes): the collections the allocations would trigger
# meanwhile find nothing to free and cost ~10 % of the start. gunicorn's
# ``post_worker_init`` then freezes them out of later collections (gunicorn.conf.py).
gc.disable()
try:
    from app import create_app

    app = create_app()
finally:
    gc.enable()
