"""Waitroom: a synchronous HTTP front for long-running Camunda 7 processes, on AWS Lambda."""

__version__ = "0.1.0"
