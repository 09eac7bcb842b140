"""Analyses that several rules share, one module per topic: call arguments (:mod:`.arguments`),
literal values (:mod:`.literals`), strings built at run time (:mod:`.strings`), loggers, what a
module is (:mod:`.module_kind`, with the one framework-package table), environment lookups,
``except`` clauses, ORM queries, background tasks, calls to other services, message consumers
and the module's helper functions. Everything here is a pure function of AST nodes and the
context.

Everything is re-exported here: ``from prodready.engine.analysis import keyword_value`` is the
import path rules use.
"""

from __future__ import annotations

from prodready.engine.analysis.arguments import (
    argument,
    has_keyword,
    has_star_args,
    has_star_kwargs,
    keyword,
    keyword_value,
)
from prodready.engine.analysis.consumers import (
    BROKER_MODULES,
    RECEIVE_METHODS,
    message_loop,
    receive_call,
    runs_consumer,
)
from prodready.engine.analysis.environment import EnvLookup, env_lookup
from prodready.engine.analysis.exceptions import BROAD_EXCEPTIONS, catches_broadly, caught_names
from prodready.engine.analysis.literals import (
    constant,
    constant_str,
    dotted,
    is_false,
    is_literal,
    is_none,
    is_true,
    root_name,
)
from prodready.engine.analysis.loggers import (
    LOG_METHODS,
    LOGGER_FACTORIES,
    LOGGER_NAMES,
    is_logger,
    log_call,
)
from prodready.engine.analysis.module_functions import (
    FunctionFlow,
    factory_calls,
    function_flow,
    module_function,
    module_functions,
)
from prodready.engine.analysis.module_kind import (
    CLI_LIBRARIES,
    FRAMEWORK_PACKAGES,
    in_service_code,
    is_example_code,
    is_framework_source,
    is_script,
)
from prodready.engine.analysis.module_values import is_local_name, module_value
from prodready.engine.analysis.orm import (
    DJANGO_FETCH_METHODS,
    DJANGO_LAZY_METHODS,
    DJANGO_MANAGERS,
    DJANGO_WRITE_METHODS,
    SQLALCHEMY_READ_METHODS,
    SQLALCHEMY_SESSION_TYPES,
    QueryChain,
    declared_fields,
    django_query,
    is_db_session,
    method_chain,
    orm_query,
    sqlalchemy_query,
    sqlalchemy_select,
    uses_django_orm,
)
from prodready.engine.analysis.service_calls import (
    DEPENDENCY_METHODS,
    DEPENDENCY_MODULES,
    DEPENDENCY_RECEIVER_WORDS,
    dependency_call,
)
from prodready.engine.analysis.strings import is_dynamic_string, string_fragments
from prodready.engine.analysis.tasks import in_task, is_task_function, task_decorator
from prodready.engine.analysis.walking import calls_in, function_calls_name, loaded_names, walk_body
from prodready.engine.python import FunctionNode
from prodready.engine.python.nodes import walk_nodes

__all__ = [
    "BROAD_EXCEPTIONS",
    "BROKER_MODULES",
    "CLI_LIBRARIES",
    "DEPENDENCY_METHODS",
    "DEPENDENCY_MODULES",
    "DEPENDENCY_RECEIVER_WORDS",
    "DJANGO_FETCH_METHODS",
    "DJANGO_LAZY_METHODS",
    "DJANGO_MANAGERS",
    "DJANGO_WRITE_METHODS",
    "FRAMEWORK_PACKAGES",
    "LOGGER_FACTORIES",
    "LOGGER_NAMES",
    "LOG_METHODS",
    "RECEIVE_METHODS",
    "SQLALCHEMY_READ_METHODS",
    "SQLALCHEMY_SESSION_TYPES",
    "EnvLookup",
    "FunctionFlow",
    "FunctionNode",
    "QueryChain",
    "argument",
    "calls_in",
    "catches_broadly",
    "caught_names",
    "constant",
    "constant_str",
    "declared_fields",
    "dependency_call",
    "django_query",
    "dotted",
    "env_lookup",
    "factory_calls",
    "function_calls_name",
    "function_flow",
    "has_keyword",
    "has_star_args",
    "has_star_kwargs",
    "in_service_code",
    "in_task",
    "is_db_session",
    "is_dynamic_string",
    "is_example_code",
    "is_false",
    "is_framework_source",
    "is_literal",
    "is_local_name",
    "is_logger",
    "is_none",
    "is_script",
    "is_task_function",
    "is_true",
    "keyword",
    "keyword_value",
    "loaded_names",
    "log_call",
    "message_loop",
    "method_chain",
    "module_function",
    "module_functions",
    "module_value",
    "orm_query",
    "receive_call",
    "root_name",
    "runs_consumer",
    "sqlalchemy_query",
    "sqlalchemy_select",
    "string_fragments",
    "task_decorator",
    "uses_django_orm",
    "walk_body",
    "walk_nodes",
]
