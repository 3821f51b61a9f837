"""Workflows through GraphQL: what ``[workflows]`` adds to a Runtime.

* The SDL (``app/workflows.graphql``), merged into the user's schema: ``startExecution``,
  ``stopExecution``, ``sendTaskSuccess``/``sendTaskFailure``, ``stateMachines``, ``stateMachine``,
  ``execution``, ``executions``, ``executionHistory``, and the subscriptions
  ``onExecutionStatusChanged`` and ``onExecutionEvent``. Their resolvers are in
  ``app.workflow_graphql_resolvers``, the events in ``app.workflow_graphql_events``.
* Auth fails closed: every field and type takes ``@aws_iam`` plus only the modes
  ``[workflows.graphql] auth`` lists (``cognito_groups`` narrows user-pool access), never the API's
  default mode.
* ``[workflows.state_machines.NAME] definition = "<path>"``: STANDARD state machines created (or
  updated when their definition changed) each time the server starts, with the execution role
  ``trellis-NAME``. ``policy = "<path>"`` (an IAM policy document) defines that role, as SAM's
  ``Policies`` do: it trusts ``states.amazonaws.com`` and has that one policy (what the machine's
  ``trellis:graphql`` Tasks may do). Without it, the role is whatever the IAM directory says.
* The ``workflows`` data source, through which resolvers start executions (the demo's
  ``placeOrder``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import (
    DefinitionNode,
    GraphQLSchema,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    SchemaDefinitionNode,
    Source,
    parse,
)

from app.errors import ConfigError, Problem
from app.pubsub import PubSub
from app.workflow_graphql_events import WorkflowEventPublisher
from app.workflow_graphql_resolvers import (
    WORKFLOWS_DATASOURCE,
    EngineLookup,
    WorkflowsDataSource,
    bind_workflow_resolvers,
)
from auth.base import Authenticator
from auth.iam import PolicyError, parse_policy
from auth.iam.directory import Role
from auth.iam_setup import directory_credentials
from auth.modes import AuthMode
from workflows import service
from workflows.engine.engine import WorkflowEngine
from workflows.errors import DefinitionError, WorkflowApiError
from workflows.language import validation
from workflows.service import StepFunctionsApi

log = logging.getLogger("trellis.workflows.graphql")

SDL_PATH = Path(__file__).with_name("workflows.graphql")
AUTH_PLACEHOLDER = "@trellis_workflows_auth"

_MODE_DIRECTIVES = {
    AuthMode.API_KEY: "@aws_api_key",
    AuthMode.AWS_IAM: "@aws_iam",
    AuthMode.OPENID_CONNECT: "@aws_oidc",
    AuthMode.AWS_LAMBDA: "@aws_lambda",
}


# -- SDL --------------------------------------------------------------------------------------------


def auth_directives(table: Mapping[str, Any], where: str | None = None) -> tuple[str, list[Problem]]:
    """The directives every workflow field and type gets, from ``[workflows.graphql]``:
    ``auth = [<modes>]`` and ``cognito_groups = [<groups>]``. ``@aws_iam`` is always there."""
    problems: list[Problem] = []
    for key in sorted(set(table) - {"auth", "cognito_groups"}):
        problems.append(Problem(f"[workflows.graphql]: unknown option {key!r}", file=where))
    modes_value = table.get("auth", [])
    groups_value = table.get("cognito_groups")
    if not isinstance(modes_value, list) or not all(isinstance(m, str) for m in modes_value):
        problems.append(Problem("[workflows.graphql] auth must be a list of auth modes", file=where))
        modes_value = []
    if groups_value is not None and (not isinstance(groups_value, list)
                                     or not all(isinstance(g, str) for g in groups_value)):
        problems.append(Problem("[workflows.graphql] cognito_groups must be a list of group names", file=where))
        groups_value = None
    modes: list[AuthMode] = [AuthMode.AWS_IAM]
    for name in modes_value:
        try:
            mode = AuthMode(name)
        except ValueError:
            known = ", ".join(m.value for m in AuthMode)
            problems.append(Problem(f"[workflows.graphql] auth: unknown mode {name!r} (known: {known})", file=where))
            continue
        if mode not in modes:
            modes.append(mode)
    if groups_value is not None and AuthMode.AMAZON_COGNITO_USER_POOLS not in modes:
        problems.append(Problem("[workflows.graphql] cognito_groups needs AMAZON_COGNITO_USER_POOLS in auth",
                                file=where))
    parts = []
    for mode in modes:
        if mode is AuthMode.AMAZON_COGNITO_USER_POOLS:
            groups = f"(cognito_groups: {json.dumps(groups_value)})" if groups_value else ""
            parts.append(f"@aws_cognito_user_pools{groups}")
        else:
            parts.append(_MODE_DIRECTIVES[mode])
    return " ".join(parts), problems


def _root_names(definitions: Sequence[DefinitionNode]) -> dict[str, str]:
    roots = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}
    for definition in definitions:
        if isinstance(definition, SchemaDefinitionNode):
            for operation in definition.operation_types:
                roots[operation.operation.value] = operation.type.name.value
    return roots


def workflow_definitions(existing: Sequence[DefinitionNode], directives: str) -> list[DefinitionNode]:
    """The workflow SDL's definitions, to append to the user's (after the @model transform).

    Root types the user's schema lacks are defined rather than extended, and the root names follow
    the user's ``schema { ... }`` block if it has one."""
    text = SDL_PATH.read_text().replace(AUTH_PLACEHOLDER, directives)
    added = parse(Source(text, str(SDL_PATH))).definitions
    defined = {d.name.value for d in existing if isinstance(d, ObjectTypeDefinitionNode)}
    roots = _root_names(existing)
    renamed = {"Query": roots["query"], "Mutation": roots["mutation"], "Subscription": roots["subscription"]}
    out: list[DefinitionNode] = []
    for definition in added:
        if isinstance(definition, ObjectTypeExtensionNode):
            name = renamed.get(definition.name.value, definition.name.value)
            name_node = definition.name.__class__(value=name, loc=definition.name.loc)
            if name in defined:
                definition = ObjectTypeExtensionNode(name=name_node, directives=definition.directives,
                                                     interfaces=definition.interfaces, fields=definition.fields,
                                                     loc=definition.loc)
            else:
                definition = ObjectTypeDefinitionNode(name=name_node, directives=definition.directives,
                                                      interfaces=definition.interfaces, fields=definition.fields,
                                                      loc=definition.loc, description=None)
        out.append(definition)
    return out


# -- wiring -------------------------------------------------------------------------------------------


STATES_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": service.SERVICE_PRINCIPAL}, "Action": "sts:AssumeRole"}]}


def execution_role_name(machine: str) -> str:
    return f"trellis-{machine}"


@dataclass(frozen=True)
class DeclaredMachine:
    """``[workflows.state_machines.NAME] definition = "<path>"`` (relative to the config file)."""

    name: str
    path: Path
    definition: str
    policy: Mapping[str, Any] | None = None  # the execution role's policy, when the config defines it

    def declared_role(self) -> Role | None:
        if self.policy is None:
            return None
        name = execution_role_name(self.name)
        return Role(name, f"AROATRELLIS{self.name.upper()}"[:32], STATES_TRUST, inline={"declared": self.policy})


def _declared_policy(owner: str, base: Path, value: Any, problems: list[Problem], where: str | None
                     ) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(Problem(f"{owner}: policy must be a path to an IAM policy JSON file", file=where))
        return None
    path = base / value
    try:
        document = json.loads(path.read_text())
        parse_policy(document, name=value)
    except OSError as exc:
        problems.append(Problem(f"{owner}: cannot read policy: {exc.strerror}", file=str(path)))
        return None
    except PolicyError as exc:
        problems.append(Problem(f"{owner}: {exc}", file=str(path)))
        return None
    except ValueError as exc:
        problems.append(Problem(f"{owner}: policy is not JSON: {exc}", file=str(path)))
        return None
    return dict(document)


def declared_machines(table: Mapping[str, Any], base: Path, where: str | None) -> tuple[list[DeclaredMachine],
                                                                                        list[Problem]]:
    machines: list[DeclaredMachine] = []
    problems: list[Problem] = []
    for name, spec in table.items():
        owner = f"[workflows.state_machines.{name}]"
        if not isinstance(spec, Mapping):
            problems.append(Problem(f"{owner} must be a table", file=where))
            continue
        for key in sorted(set(spec) - {"definition", "type", "policy"}):
            problems.append(Problem(f"{owner}: unknown option {key!r}", file=where))
        if spec.get("type", "STANDARD") != "STANDARD":
            problems.append(Problem(f"{owner}: only STANDARD state machines are declared in config", file=where))
        path_value = spec.get("definition")
        if not isinstance(path_value, str):
            problems.append(Problem(f"{owner}: definition (a path to the ASL JSON) is required", file=where))
            continue
        path = base / path_value
        try:
            text = path.read_text()
        except OSError as exc:
            problems.append(Problem(f"{owner}: cannot read definition: {exc.strerror}", file=str(path)))
            continue
        try:
            validation.load(text)  # its shape now (``trellis check``); its resources once the engine runs
        except DefinitionError as exc:
            problems.extend(Problem(f"{owner}: {p}", file=str(path)) for p in exc.problems)
            continue
        policy = _declared_policy(owner, base, spec.get("policy"), problems, where)
        machines.append(DeclaredMachine(name, path, text, policy))
    return machines, problems


def declare_execution_roles(authenticator: Authenticator, machines: Sequence[DeclaredMachine],
                            where: str | None) -> None:
    """Give the IAM credentials the roles declared machines define (see the module docstring)."""
    roles = {role.name: role for machine in machines if (role := machine.declared_role()) is not None}
    if not roles:
        return
    found = directory_credentials(authenticator)
    if found is None:
        raise ConfigError([Problem("[workflows.state_machines]: a policy defines an execution role, which needs "
                                   "AWS_IAM among the [auth] modes", file=where)])
    found[1].declare_roles(roles)


async def install_machines(engine: WorkflowEngine, machines: Sequence[DeclaredMachine]) -> list[str]:
    """Create the declared state machines, or update those whose definition changed, through the
    Step Functions API's own operations; returns what it did. A definition the engine cannot run
    (e.g. a Task no runner supports) stops the start, as CreateStateMachine would refuse it."""
    api = StepFunctionsApi(engine)
    done: list[str] = []
    problems: list[Problem] = []
    for declared in machines:
        existing = await engine.store.get_state_machine_by_name(declared.name)
        try:
            if existing is None:
                created = await service.call(api, "CreateStateMachine", {
                    "name": declared.name, "definition": declared.definition, "type": "STANDARD",
                    "roleArn": f"arn:aws:iam::{engine.options.account_id}:role/{execution_role_name(declared.name)}"})
                done.append(f"created {created['stateMachineArn']}")
            elif existing.definition != declared.definition:
                await service.call(api, "UpdateStateMachine", {"stateMachineArn": existing.arn,
                                                                "definition": declared.definition})
                done.append(f"updated {existing.arn}")
        except WorkflowApiError as exc:
            problems.append(Problem(f"state machine {declared.name!r}: {exc.code}: {exc.message}",
                                    file=str(declared.path)))
    if problems:
        raise ConfigError(problems)
    return done


@dataclass(frozen=True)
class WorkflowGraphQLConfig:
    extend: Callable[[Sequence[DefinitionNode]], list[DefinitionNode]]  # for ``load_schema``
    machines: Sequence[DeclaredMachine]


def workflow_graphql_config(settings: Any, where: str | None) -> tuple[WorkflowGraphQLConfig | None, list[Problem]]:
    """From ``[workflows]``: the SDL to add and the declared state machines (None without the table)."""
    table = getattr(settings, "workflows", None)
    if not isinstance(table, Mapping):
        return None, []
    graphql_table = table.get("graphql", {})
    if not isinstance(graphql_table, Mapping):
        return None, [Problem("[workflows.graphql] must be a table", file=where)]
    directives, problems = auth_directives(graphql_table, where)
    if WORKFLOWS_DATASOURCE in settings.datasources:
        problems.append(Problem(f"data source name {WORKFLOWS_DATASOURCE!r} is reserved for the workflow engine",
                                file=where))
    machines_table = table.get("state_machines", {})
    if not isinstance(machines_table, Mapping):
        return None, [*problems, Problem("[workflows.state_machines] must be a table", file=where)]
    base = settings.config_path.parent if settings.config_path else settings.schema_path.parent
    machines, machine_problems = declared_machines(machines_table, base, where)
    problems.extend(machine_problems)
    return WorkflowGraphQLConfig(lambda existing: workflow_definitions(existing, directives), machines), problems


class WorkflowGraphQL:
    """The GraphQL side of ``[workflows]`` for one Runtime: built with it (fields bound, the
    ``workflows`` data source added), started once the engine runs (observer connected, declared
    state machines installed)."""

    def __init__(self, config: WorkflowGraphQLConfig, schema: GraphQLSchema, datasources: dict[str, Any], *,
                 engine: EngineLookup) -> None:
        self.engine = engine
        self.resolvers = bind_workflow_resolvers(schema, engine)
        self.machines = list(config.machines)
        self.publisher: WorkflowEventPublisher | None = None
        datasources[WORKFLOWS_DATASOURCE] = WorkflowsDataSource(WORKFLOWS_DATASOURCE, self.resolvers)

    async def start(self, pubsub: PubSub) -> None:
        engine = self.engine()
        if engine is None:
            return
        if self.publisher is None:
            self.publisher = WorkflowEventPublisher(pubsub)
            engine.observers.append(self.publisher)
        await engine.store.setup()  # idempotent; the engine may start after us
        for change in await install_machines(engine, self.machines):
            log.info("workflows: %s", change)

    async def close(self) -> None:
        engine = self.engine()
        if self.publisher is not None:
            if engine is not None and self.publisher in engine.observers:
                engine.observers.remove(self.publisher)
            await self.publisher.close()
            self.publisher = None
