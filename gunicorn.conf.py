"""gunicorn settings for RadBook's web process (read from the working directory).

    gunicorn wsgi:app                      # from the repository root, with these settings

Sized for a small hospital server (benchmarks/README.md, "Web under load", has the
figures on 2 cores): one process per core plus one, so a core never idles while a
process waits, and threads in each process, so a request waiting on PostgreSQL (the
commit's WAL flush, a row lock held by another booking) does not hold a whole process.
Python runs one thread at a time per process, so more threads would only queue inside
the process; more processes cost memory (~100 MB each) and database connections.
Override with the usual flags (``-w``, ``--threads``) or ``WEB_CONCURRENCY``.
"""

import gc
import multiprocessing
import os

bind = os.environ.get("RADBOOK_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1))
worker_class = "gthread"
threads = int(os.environ.get("RADBOOK_WEB_THREADS", "4"))
# A booking or a week view that takes longer than this is stuck, not slow.
timeout = 60
graceful_timeout = 30


def post_worker_init(worker):
    """Move what the app loaded out of the garbage collector's way (``gc.freeze``).

    Without it every full collection walks every object the imports created (tens of
    thousands of functions, classes, SQLAlchemy and Babel structures); a few requests in
    a hundred then pay ~100 ms for it. ``RADBOOK_GC_FREEZE=0`` turns it off.
    """
    if os.environ.get("RADBOOK_GC_FREEZE", "1") != "0":
        gc.collect()
        gc.freeze()
