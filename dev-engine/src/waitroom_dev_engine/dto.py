"""Camunda REST DTOs (camelCase JSON objects) built from the engine's records."""

from __future__ import annotations

from typing import Any

from waitroom_dev_engine.clock import format_date
from waitroom_dev_engine.engine import CorrelationResult, DeploymentResult, StartResult
from waitroom_dev_engine.fetching import LockedTask
from waitroom_dev_engine.records import (
    Deployment,
    ExternalTask,
    HistoricActivityInstance,
    HistoricProcessInstance,
    HistoricVariableInstance,
    Incident,
    ProcessDefinition,
    ProcessInstance,
    UserTask,
)
from waitroom_dev_engine.variables import TypedValue, from_record, to_dto

JsonObject = dict[str, Any]


def variables_dto(variables: dict[str, TypedValue], deserialize: bool = True) -> JsonObject:
    return {name: to_dto(value, deserialize) for name, value in variables.items()}


def process_definition(definition: ProcessDefinition) -> JsonObject:
    return {
        "id": definition.id,
        "key": definition.key,
        "category": definition.category,
        "description": None,
        "name": definition.name,
        "version": definition.version,
        "resource": definition.resource,
        "deploymentId": definition.deployment_id,
        "diagram": None,
        "suspended": False,
        "tenantId": None,
        "versionTag": definition.version_tag,
        "historyTimeToLive": definition.history_time_to_live,
        "startableInTasklist": definition.startable_in_tasklist,
    }


def deployment(result: DeploymentResult, base_url: str) -> JsonObject:
    record = result.deployment
    definitions = (
        None
        if result.definitions is None
        else {definition.id: process_definition(definition) for definition in result.definitions}
    )
    return {
        "links": [_link(f"{base_url}/deployment/{record.id}")],
        "id": record.id,
        "name": record.name,
        "source": record.source,
        "deploymentTime": format_date(record.deployment_time),
        "tenantId": None,
        "deployedProcessDefinitions": definitions,
        "deployedCaseDefinitions": None,
        "deployedDecisionDefinitions": None,
        "deployedDecisionRequirementsDefinitions": None,
    }


def deployment_summary(record: Deployment) -> JsonObject:
    # Camunda adds the self link only to the answer of a deployment's creation.
    return {
        "links": [],
        "id": record.id,
        "name": record.name,
        "source": record.source,
        "deploymentTime": format_date(record.deployment_time),
        "tenantId": None,
    }


def listed_process_instance(instance: ProcessInstance) -> JsonObject:
    """An entry of the process instance list: Camunda adds the self link to single instances only."""
    listed = process_instance(instance, "")
    listed["links"] = []
    return listed


def process_instance(instance: ProcessInstance, base_url: str) -> JsonObject:
    return _process_instance(
        instance.id,
        definition_id=instance.definition_id,
        definition_key=instance.definition_key,
        business_key=instance.business_key,
        ended=False,
        base_url=base_url,
    )


def started_instance(result: StartResult, with_variables: bool, base_url: str) -> JsonObject:
    dto = _process_instance(
        result.instance_id,
        definition_id=result.definition.id,
        definition_key=result.definition.key,
        business_key=result.business_key,
        ended=result.ended,
        base_url=base_url,
    )
    if with_variables:
        dto["variables"] = variables_dto(result.variables)
    return dto


def correlation_result(result: CorrelationResult, with_variables: bool) -> JsonObject:
    """Camunda's MessageCorrelationResultWithVariableDto."""
    started = result.instance
    ended = started.ended if started is not None else False
    dto: JsonObject = {"resultType": result.result_type, "execution": None, "processInstance": None}
    if result.result_type == "Execution":
        dto["execution"] = {
            "id": result.execution_id,
            "processInstanceId": result.process_instance_id,
            "ended": ended,
            "tenantId": None,
        }
    elif started is not None:
        dto["processInstance"] = _process_instance(
            started.instance_id,
            definition_id=started.definition.id,
            definition_key=started.definition.key,
            business_key=started.business_key,
            ended=ended,
            base_url="",
        )
        dto["processInstance"]["links"] = []
    if with_variables and started is not None:
        dto["variables"] = variables_dto(started.variables)
    return dto


def historic_process_instance(history: HistoricProcessInstance) -> JsonObject:
    duration = history.end_time - history.start_time if history.end_time is not None else None
    return {
        "id": history.id,
        "rootProcessInstanceId": history.id,
        "superProcessInstanceId": None,
        "superCaseInstanceId": None,
        "caseInstanceId": None,
        "processDefinitionName": history.definition_name,
        "processDefinitionKey": history.definition_key,
        "processDefinitionVersion": history.definition_version,
        "processDefinitionId": history.definition_id,
        "businessKey": history.business_key,
        "startTime": format_date(history.start_time),
        "endTime": format_date(history.end_time),
        "removalTime": None,
        "durationInMillis": duration,
        "startUserId": None,
        "startActivityId": history.start_activity_id,
        "deleteReason": history.delete_reason,
        "tenantId": None,
        "state": history.state,
        "restartedProcessInstanceId": None,
    }


def historic_activity_instance(activity: HistoricActivityInstance) -> JsonObject:
    return {
        "id": activity.id,
        "parentActivityInstanceId": activity.parent_activity_instance_id,
        "activityId": activity.activity_id,
        "activityName": activity.activity_name,
        "activityType": activity.activity_type,
        "processDefinitionKey": activity.process_definition_key,
        "processDefinitionId": activity.process_definition_id,
        "processInstanceId": activity.process_instance_id,
        "executionId": activity.execution_id,
        "taskId": None,
        "assignee": None,
        "calledProcessInstanceId": None,
        "calledCaseInstanceId": None,
        "startTime": format_date(activity.start_time),
        "endTime": format_date(activity.end_time),
        "durationInMillis": activity.end_time - activity.start_time,
        "canceled": False,
        "completeScope": True,
        "tenantId": None,
        "removalTime": None,
        "rootProcessInstanceId": activity.process_instance_id,
    }


def historic_variable_instance(variable: HistoricVariableInstance, deserialize: bool) -> JsonObject:
    """Camunda's HistoricVariableInstanceDto of a variable of an instance's own scope."""
    return {
        **to_dto(from_record(variable.value), deserialize),
        "id": variable.id,
        "name": variable.name,
        "processDefinitionKey": variable.process_definition_key,
        "processDefinitionId": variable.process_definition_id,
        "processInstanceId": variable.process_instance_id,
        "executionId": variable.process_instance_id,
        "activityInstanceId": variable.process_instance_id,
        "caseDefinitionKey": None,
        "caseDefinitionId": None,
        "caseInstanceId": None,
        "caseExecutionId": None,
        "taskId": None,
        "tenantId": None,
        "errorMessage": None,
        "state": variable.state,
        "createTime": format_date(variable.create_time),
        "removalTime": None,
        "rootProcessInstanceId": variable.process_instance_id,
    }


def external_task(task: ExternalTask) -> JsonObject:
    return {
        "activityId": task.activity_id,
        "activityInstanceId": task.activity_instance_id,
        "errorMessage": task.error_message,
        "executionId": task.execution_id,
        "id": task.id,
        "lockExpirationTime": format_date(task.lock_expiration_time),
        "createTime": format_date(task.create_time),
        "processDefinitionId": task.definition_id,
        "processDefinitionKey": task.definition_key,
        "processDefinitionVersionTag": task.version_tag,
        "processInstanceId": task.process_instance_id,
        "tenantId": None,
        "retries": task.retries,
        "suspended": False,
        "workerId": task.worker_id,
        "priority": task.priority,
        "topicName": task.topic_name,
        "businessKey": task.business_key,
    }


def locked_external_task(locked: LockedTask) -> JsonObject:
    dto = external_task(locked.task)
    dto["errorDetails"] = locked.task.error_details
    dto["variables"] = variables_dto(locked.variables, locked.deserialize_values)
    dto["extensionProperties"] = locked.extension_properties
    return dto


def task(record: UserTask) -> JsonObject:
    """Camunda's TaskWithAttachmentAndCommentDto, without the variables it only adds on request."""
    return {
        "id": record.id,
        "name": record.name,
        "assignee": record.assignee,
        "owner": None,
        "created": format_date(record.created),
        "lastUpdated": None,
        "due": None,
        "followUp": None,
        "delegationState": None,
        "description": record.description,
        "executionId": record.execution_id,
        "parentTaskId": None,
        "priority": record.priority,
        "processDefinitionId": record.definition_id,
        "processInstanceId": record.process_instance_id,
        "caseExecutionId": None,
        "caseDefinitionId": None,
        "caseInstanceId": None,
        "taskDefinitionKey": record.activity_id,
        "suspended": False,
        "formKey": record.form_key,
        "camundaFormRef": None,
        "tenantId": None,
        "taskState": "Created",
        "attachment": False,
        "comment": False,
    }


def incident(record: Incident) -> JsonObject:
    return {
        "id": record.id,
        "processDefinitionId": record.process_definition_id,
        "processInstanceId": record.process_instance_id,
        "executionId": record.execution_id,
        "incidentTimestamp": format_date(record.incident_timestamp),
        "incidentType": record.incident_type,
        "activityId": record.activity_id,
        "failedActivityId": record.activity_id,
        "causeIncidentId": record.id,
        "rootCauseIncidentId": record.id,
        "configuration": record.configuration,
        "tenantId": None,
        "incidentMessage": record.incident_message,
        "jobDefinitionId": None,
        "annotation": None,
    }


def _process_instance(
    instance_id: str, *, definition_id: str, definition_key: str, business_key: str | None, ended: bool, base_url: str
) -> JsonObject:
    return {
        "links": [_link(f"{base_url}/process-instance/{instance_id}")],
        "id": instance_id,
        "definitionId": definition_id,
        "definitionKey": definition_key,
        "businessKey": business_key,
        "caseInstanceId": None,
        "ended": ended,
        "suspended": False,
        "tenantId": None,
    }


def _link(href: str) -> JsonObject:
    return {"method": "GET", "href": href, "rel": "self"}
