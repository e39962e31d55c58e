"""POST /api/process/start: start a Camunda process and answer with its result if it ends in time
(a Lambda durable function that suspends while it waits when ``WAIT_MODE`` is ``durable``)."""

from waitroom.composition.http import start_function

app, lambda_handler = start_function()
