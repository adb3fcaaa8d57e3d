"""gunicorn settings for RadBook's web process (read from the working directory).

    gunicorn wsgi:app                      # from the repository root, with these settings

Sized on 2 cores (benchmarks/README.md, "Web under load", has the figures): one
process per core, since Python runs one thread at a time per process, and 8 threads
in each, so a request waiting on PostgreSQL (a commit's WAL flush, a row lock held by
another booking) or a slow page (a week view) does not hold up the process's other
requests. With 50 simulated users, 2 x 8 served more requests with lower p95/p99 than
3 x 4, and 5 single-threaded workers did worst. More processes cost memory (~100 MB
each) and database connections. Override with the usual flags (``-w``, ``--threads``)
or ``WEB_CONCURRENCY`` / ``RADBOOK_WEB_THREADS``.
"""

import gc
import multiprocessing
import os

bind = os.environ.get("RADBOOK_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("RADBOOK_WEB_THREADS", "8"))

# The access log (when turned on with --access-logfile) names the path, never the query
# string or the Referer: either may carry what someone searched for (a national ID, a
# name), and patient data must not reach log files (PDPA). %(U)s is the path without
# the query, %(D)s the time taken in microseconds. Checked in
# tests/app/test_no_patient_data_in_urls.py.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(D)sus'


def post_worker_init(worker):
    """Move what the app loaded out of the garbage collector's way (``gc.freeze``).

    Without it every full collection walks every object the imports created (tens of
    thousands of functions, classes, SQLAlchemy and Babel structures); a few requests in
    a hundred then pay ~100 ms for it. ``RADBOOK_GC_FREEZE=0`` turns it off.
    """
    if os.environ.get("RADBOOK_GC_FREEZE", "1") != "0":
        gc.collect()
        gc.freeze()
