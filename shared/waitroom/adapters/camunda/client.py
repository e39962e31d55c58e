"""A small Camunda 7 REST client on one ``requests`` session.

Only the endpoints Waitroom calls; shapes as in the official OpenAPI definition
(Camunda 7's REST API reference). Failures become the domain's ``Camunda*`` errors:

* the request never reached Camunda (refused, DNS, connect timeout) → :class:`CamundaUnavailable`;
* it may have reached Camunda but no answer came (read timeout, connection reset after sending, or
  a 502/503/504 from a proxy or load balancer in front of Camunda) → :class:`CamundaNoAnswer`,
  because for a start the instance may exist;
* 404 → :class:`CamundaNotFound`; other 4xx → :class:`CamundaRejected`; other 5xx (Camunda's own
  errors, after which it rolled its transaction back) → :class:`CamundaFailed`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from waitroom.adapters.secrets import read_secret
from waitroom.domain.errors import (
    CamundaFailed,
    CamundaNoAnswer,
    CamundaNotFound,
    CamundaRejected,
    CamundaUnavailable,
    ConfigurationError,
    WaitroomError,
)
from waitroom.settings import Settings

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

#: What a proxy in front of Camunda answers when it got no (good) answer itself: the request may
#: have been carried out.
GATEWAY_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class Credentials:
    """How to authenticate to Camunda: HTTP basic, a bearer token, or nothing."""

    basic: tuple[str, str] | None = None
    token: str | None = None

    def fetch(self, *, refresh: bool = False) -> Credentials:
        return self

    @property
    def refreshable(self) -> bool:
        """Whether fetching again may give other credentials (a rotated secret)."""
        return False


@dataclass(frozen=True)
class SecretCredentials(Credentials):
    """Credentials in a Secrets Manager secret, ``{"username", "password"}`` or ``{"token"}``, read
    through Powertools (cached for five minutes) and fetched again after a 401 (rotation)."""

    arn: str = ""

    def fetch(self, *, refresh: bool = False) -> Credentials:
        secret: Any = read_secret(self.arn, transform="json", refresh=refresh)
        if isinstance(secret, dict) and secret.get("token"):
            return Credentials(token=str(secret["token"]))
        if isinstance(secret, dict) and secret.get("username") and secret.get("password"):
            return Credentials(basic=(str(secret["username"]), str(secret["password"])))
        raise ConfigurationError(
            'CAMUNDA_SECRET_ARN: the secret must be JSON with "username" and "password", or "token"'
        )

    @property
    def refreshable(self) -> bool:
        return True


@dataclass(frozen=True)
class FetchTopic:
    topic_name: str
    lock_duration_ms: int
    variables: Sequence[str] | None = None
    local_variables: bool = False


class CamundaClient:
    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout_s: float = 3,
        read_timeout_s: float = 10,
        credentials: Credentials | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.credentials = credentials or Credentials()
        # Fetched at the first request, not here: building a client (a CLI command that never calls
        # Camunda, a cold start) costs no call to Secrets Manager.
        self._authenticated = False
        self._session: requests.Session | None = None

    def close(self) -> None:
        """Let go of the connections and of the credentials read (a SnapStart snapshot, a test's
        end): the next request makes a new session and reads the secret again."""
        session, self._session = self._session, None
        self._authenticated = False
        if session is not None:
            session.close()

    @property
    def session(self) -> requests.Session:
        """The HTTP session, made at the first use: a function that never calls Camunda (status)
        never imports requests (docs/CAPACITY.md)."""
        if self._session is None:
            self._session = new_session()
        return self._session

    def _authenticate(self, credentials: Credentials) -> None:
        self._authenticated = True
        self.session.auth = credentials.basic
        if credentials.token is not None:
            self.session.headers["Authorization"] = f"Bearer {credentials.token}"
        else:
            self.session.headers.pop("Authorization", None)

    @classmethod
    def from_settings(cls, settings: Settings) -> CamundaClient:
        credentials: Credentials
        if settings.camunda_secret_arn:
            credentials = SecretCredentials(arn=settings.camunda_secret_arn)
        elif settings.camunda_user and settings.camunda_password:
            credentials = Credentials(basic=(settings.camunda_user, settings.camunda_password.get_secret_value()))
        else:
            credentials = Credentials(
                token=settings.camunda_token.get_secret_value() if settings.camunda_token else None
            )
        return cls(
            str(settings.camunda_url),
            connect_timeout_s=settings.camunda_connect_timeout_s,
            read_timeout_s=settings.camunda_read_timeout_s,
            credentials=credentials,
        )

    # --- transport -----------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        files: Any = None,
        data: Any = None,
        read_timeout_s: float | None = None,
        retried: bool = False,
    ) -> requests.Response:
        import requests  # noqa: PLC0415 -- imported by the session already

        if not self._authenticated:
            self._authenticate(self.credentials.fetch())
        timeout = self.timeout if read_timeout_s is None else (self.timeout[0], read_timeout_s)
        url = f"{self.base_url}{path}"
        try:
            response = self.session.request(
                method, url, json=json, params=params, files=files, data=data, timeout=timeout
            )
        except requests.ConnectionError as exc:
            if never_sent(exc):
                # Camunda's address stays out of the message: it reaches clients, and may carry credentials.
                raise CamundaUnavailable("Camunda cannot be reached") from exc
            raise CamundaNoAnswer(f"Camunda did not answer {method} {path}") from exc
        except requests.Timeout as exc:
            raise CamundaNoAnswer(f"Camunda did not answer {method} {path} in time") from exc
        if response.status_code == 401 and self.credentials.refreshable and not retried:
            # The secret may have been rotated since it was cached: fetch it again, try once more.
            self._authenticate(self.credentials.fetch(refresh=True))
            return self._request(
                method,
                path,
                json=json,
                params=params,
                files=files,
                data=data,
                read_timeout_s=read_timeout_s,
                retried=True,
            )
        if response.status_code >= 400:
            raise _error_for(response, method, path)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise CamundaFailed(f"Camunda answered {method} {path} with something that is not JSON") from exc

    # --- process instances ---------------------------------------------------------------------

    def start_process(
        self, key: str, *, business_key: str, variables: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Any]:
        """``POST /process-definition/key/{key}/start``; returns the ProcessInstanceWithVariablesDto."""
        result: dict[str, Any] = self._json(
            "POST",
            f"/process-definition/key/{_segment(key)}/start",
            json={"businessKey": business_key, "variables": dict(variables)},
        )
        return result

    def delete_process_instance(self, instance_id: str, *, skip_custom_listeners: bool = True) -> bool:
        """Deletes a running instance. False when it no longer runs (ended or never existed)."""
        try:
            self._request(
                "DELETE",
                f"/process-instance/{_segment(instance_id)}",
                params={"skipCustomListeners": str(skip_custom_listeners).lower(), "skipIoMappings": "true"},
            )
        except CamundaNotFound:
            return False
        return True

    def get_historic_process_instance(self, instance_id: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self._json("GET", f"/history/process-instance/{_segment(instance_id)}")
        except CamundaNotFound:
            return None
        return result

    def find_historic_process_instances(self, *, business_key: str, process_key: str | None) -> list[dict[str, Any]]:
        """Every instance, running or ended, started with this business key (and definition key):
        how an unconfirmed start is settled."""
        params = {"processInstanceBusinessKey": business_key}
        if process_key:
            params["processDefinitionKey"] = process_key
        result: list[dict[str, Any]] = self._json("GET", "/history/process-instance", params=params)
        return result

    def list_incidents(
        self,
        *,
        process_instance_id: str | None = None,
        raised_after: datetime | None = None,
        max_results: int | None = None,
    ) -> list[dict[str, Any]]:
        """Open incidents, of one instance or all; ``raised_after`` (on Camunda's clock) keeps the newer
        ones, oldest first."""
        params: dict[str, str | int] = {}
        if process_instance_id:
            params["processInstanceId"] = process_instance_id
        if raised_after is not None:
            params["incidentTimestampAfter"] = camunda_date(raised_after)
            params.update(sortBy="incidentTimestamp", sortOrder="asc")
        if max_results is not None:
            params["maxResults"] = max_results
        result: list[dict[str, Any]] = self._json("GET", "/incident", params=params or None)
        return result

    def historic_instances_ended_after(self, moment: datetime, *, max_results: int) -> list[dict[str, Any]]:
        """The instances that ended at or after ``moment`` (on Camunda's clock), oldest end first."""
        params = {
            "finishedAfter": camunda_date(moment),
            "sortBy": "endTime",
            "sortOrder": "asc",
            "maxResults": max_results,
        }
        result: list[dict[str, Any]] = self._json("GET", "/history/process-instance", params=params)
        return result

    def scope_completing_activities(self, instance_id: str) -> list[dict[str, Any]]:
        """``GET /history/activity-instance`` of the instance's activity instances that completed a scope
        (HistoricActivityInstanceDto: ``activityId``, ``activityType``, ``parentActivityInstanceId``):
        its end events reached, and the tasks whose uncaught BPMN error ended their path."""
        params = {"processInstanceId": instance_id, "completeScope": "true"}
        return self._pages("/history/activity-instance", params)

    def historic_scope_variables(self, instance_id: str) -> list[dict[str, Any]]:
        """``GET /history/variable-instance`` of the variables of the instance's own scope (whose
        ``activityInstanceId`` is the instance's id: Camunda gives the instance's scope its own id),
        not deleted, serialized objects left as stored (``deserializeValues=false``)."""
        params = {
            "processInstanceId": instance_id,
            "activityInstanceIdIn": instance_id,
            "deserializeValues": "false",
        }
        return self._pages("/history/variable-instance", params)

    def _pages(self, path: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """Every item of a history list query, :data:`PAGE` at a time (Camunda may cap unpaged queries:
        its ``queryMaxResultsLimit``)."""
        found: list[dict[str, Any]] = []
        while True:
            page: list[dict[str, Any]] = self._json(
                "GET", path, params={**params, "firstResult": len(found), "maxResults": PAGE}
            )
            found.extend(page)
            if len(page) < PAGE:
                return found

    def list_external_tasks(self, task_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The external tasks among ``task_ids`` (ExternalTaskDto: ``id``, ``topicName``, ...)."""
        result: list[dict[str, Any]] = []
        for chunk in _chunks(task_ids):
            result.extend(self._json("GET", "/external-task", params={"externalTaskIdIn": ",".join(chunk)}))
        return result

    def list_process_instances(self, instance_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The running instances among ``instance_ids`` (ProcessInstanceDto: ``id``, ``businessKey``)."""
        result: list[dict[str, Any]] = []
        for chunk in _chunks(instance_ids):
            result.extend(self._json("GET", "/process-instance", params={"processInstanceIds": ",".join(chunk)}))
        return result

    # --- external tasks ------------------------------------------------------------------------

    def fetch_and_lock(
        self,
        *,
        worker_id: str,
        topics: Sequence[FetchTopic],
        max_tasks: int,
        async_response_timeout_ms: int,
    ) -> list[dict[str, Any]]:
        """Long-polls for tasks; the read timeout covers Camunda's own wait plus the usual timeout."""
        body = {
            "workerId": worker_id,
            "maxTasks": max_tasks,
            "usePriority": True,
            # Oldest first among equal priorities: under load, no process's steps wait behind newer ones.
            "sorting": [{"sortBy": "createTime", "sortOrder": "asc"}],
            "asyncResponseTimeout": async_response_timeout_ms,
            "topics": [
                {
                    "topicName": topic.topic_name,
                    "lockDuration": topic.lock_duration_ms,
                    **({"variables": list(topic.variables)} if topic.variables is not None else {}),
                    **({"localVariables": True} if topic.local_variables else {}),
                }
                for topic in topics
            ],
        }
        read_timeout_s = async_response_timeout_ms / 1000 + self.timeout[1]
        result: list[dict[str, Any]] = self._json(
            "POST", "/external-task/fetchAndLock", json=body, read_timeout_s=read_timeout_s
        )
        return result

    def complete_task(
        self, task_id: str, *, worker_id: str, variables: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        self._request(
            "POST",
            f"/external-task/{_segment(task_id)}/complete",
            json={"workerId": worker_id, "variables": dict(variables or {})},
        )

    def report_failure(
        self,
        task_id: str,
        *,
        worker_id: str,
        error_message: str,
        error_details: str | None,
        retries: int,
        retry_timeout_ms: int,
    ) -> None:
        """``retries`` is required here on purpose: Camunda reads an omitted value as 0, an incident."""
        self._request(
            "POST",
            f"/external-task/{_segment(task_id)}/failure",
            json={
                "workerId": worker_id,
                "errorMessage": error_message,
                "errorDetails": error_details,
                "retries": retries,
                "retryTimeout": retry_timeout_ms,
            },
        )

    def report_bpmn_error(
        self,
        task_id: str,
        *,
        worker_id: str,
        error_code: str,
        error_message: str,
        variables: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._request(
            "POST",
            f"/external-task/{_segment(task_id)}/bpmnError",
            json={
                "workerId": worker_id,
                "errorCode": error_code,
                "errorMessage": error_message,
                "variables": dict(variables or {}),
            },
        )

    def extend_lock(self, task_id: str, *, worker_id: str, new_duration_ms: int) -> None:
        self._request(
            "POST",
            f"/external-task/{_segment(task_id)}/extendLock",
            json={"workerId": worker_id, "newDuration": new_duration_ms},
        )

    def count_fetchable_tasks(self, topic_name: str) -> int:
        """``POST /external-task/count``: the topic's tasks a worker could lock now (no lock held,
        retries left): its backlog."""
        result = self._json(
            "POST",
            "/external-task/count",
            json={"topicName": topic_name, "notLocked": True, "withRetriesLeft": True},
        )
        return int(result["count"])

    def lock_holders(self) -> set[str]:
        """The worker ids that hold a lock on a task now: the workers running tasks."""
        locked = self._json("POST", "/external-task", json={"locked": True})
        return {str(task["workerId"]) for task in locked or [] if task.get("workerId")}

    def create_deployment(
        self, name: str, resources: Mapping[str, bytes], *, deploy_changed_only: bool = True
    ) -> dict[str, Any]:
        files = [
            (file_name, (file_name, content, "application/octet-stream")) for file_name, content in resources.items()
        ]
        data = {
            "deployment-name": name,
            "deployment-source": "waitroom",
            "enable-duplicate-filtering": "true",
            "deploy-changed-only": str(deploy_changed_only).lower(),
        }
        result: dict[str, Any] = self._json("POST", "/deployment/create", files=files, data=data)
        return result


def camunda_date(moment: datetime) -> str:
    """A time as Camunda's REST API reads it: ``2026-01-31T12:00:00.000+0000``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def parse_camunda_date(text: str | None) -> datetime | None:
    """A time as Camunda's REST API writes it (``2026-01-31T12:00:00.000+0000``); None for none."""
    return None if text is None else datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


#: Ids per query that lists them in its URL: 50 ids of 36 characters stay far below the 8 KB of a
#: request line that Camunda's web server (Tomcat) accepts.
IDS_PER_QUERY = 50
#: Items read per request from a history list query.
PAGE = 500


def _chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[start : start + IDS_PER_QUERY] for start in range(0, len(ids), IDS_PER_QUERY)]


def _segment(value: str) -> str:
    """A value made safe to sit in a URL path segment."""
    return quote(value, safe="")


def new_session() -> requests.Session:
    """An HTTP session to an engine's REST API, imported at its first use (see ``session`` above)."""
    import requests  # noqa: PLC0415 -- see CamundaClient.session
    from requests.adapters import HTTPAdapter  # noqa: PLC0415
    from urllib3.util.retry import Retry  # noqa: PLC0415

    session = requests.Session()
    # A connection that was never made may be tried again whatever the method: nothing was sent.
    retry = Retry(total=None, connect=1, read=0, status=0, other=0, redirect=0, backoff_factor=0.05)
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    session.headers["Accept"] = "application/json"
    return session


def never_sent(error: requests.ConnectionError) -> bool:
    """Whether a connection error happened before the request could reach Camunda."""
    import requests  # noqa: PLC0415 -- imported by the session already
    from urllib3.exceptions import MaxRetryError, NewConnectionError  # noqa: PLC0415

    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = error.args[0] if error.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    # NameResolutionError is a NewConnectionError too.
    return isinstance(reason, NewConnectionError)


def _error_for(response: requests.Response, method: str, path: str) -> WaitroomError:
    try:
        body = response.json()
        message = str(body.get("message") or body)
        kind = str(body.get("type") or "")
    except (ValueError, AttributeError):
        message, kind = response.text[:500], ""
    details = [{"camundaStatus": response.status_code, "camundaType": kind, "camundaMessage": message}]
    if response.status_code in GATEWAY_STATUSES:
        return CamundaNoAnswer(f"Camunda's gateway answered {response.status_code} to {method} {path}", details=details)
    if response.status_code == 404:
        return CamundaNotFound(message, details=details)
    if response.status_code < 500:
        return CamundaRejected(f"Camunda rejected {method} {path} ({response.status_code}): {message}", details=details)
    return CamundaFailed(f"Camunda failed on {method} {path} ({response.status_code}): {message}", details=details)
