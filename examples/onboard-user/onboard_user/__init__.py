"""The onboard-user example: a process of its own served by Waitroom without a change to Waitroom.

* ``bpmn/onboard-user.bpmn``: the process, deployed with ``waitroom deploy-bpmn examples/onboard-user/bpmn``;
* ``bpmn-camunda8/onboard-user.bpmn``: the same process for Camunda 8, with Zeebe task definitions
  whose job types are the topics above (the development engine runs it through its ``/v2`` API);
* :mod:`onboard_user.handlers`: its steps, a handler module the worker loads when
  ``WORKER_HANDLER_MODULES`` names it (``onboard_user.handlers``); it reads its own setting,
  ``ONBOARDING_API_URL``;
* :mod:`onboard_user.onboarding_api`: a stand-in for the onboarding service its third step calls.

``make run`` serves it on the local stack.
"""
