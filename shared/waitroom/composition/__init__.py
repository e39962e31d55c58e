"""The composition roots: one module per kind of process, each building that kind at its cold start
from the settings, on the service :mod:`waitroom.bootstrap` puts together on its adapters.

:mod:`.http` the API functions, :mod:`.worker` the external-task worker, :mod:`.dispatcher` the worker's
dispatcher, :mod:`.scheduled` the reconciler and retention. A function's ``app.py`` calls its kind's
module; the tests and the local stack call the same module (a test passes the application it built
on the settings and adapters it chose). This package imports none of its modules, so that a function
loads only its own kind's code.
"""
