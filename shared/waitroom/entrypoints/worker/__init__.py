"""The Camunda external-task worker: the built-in response step, and the handlers of the teams'
packages (:mod:`waitroom.entrypoints.worker.plugins`)."""
