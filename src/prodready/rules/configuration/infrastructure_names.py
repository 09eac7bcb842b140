"""Configuration: infrastructure names hard-coded in service code (CFG005)."""

from __future__ import annotations

import ast
import re

from prodready.plugin import Category, Confidence, ModuleEnd, PythonContext, Severity, python_rule
from prodready.plugin.analysis import argument, constant_str, keyword_value, module_value
from prodready.rules.configuration._shared import (
    _LOCAL_GATE,
    _config_or_service_code,
    _dev_only_file,
)

# -- CFG005 -----------------------------------------------------------------------------------

# S3 methods -> position of a positional bucket argument (None: keyword ``Bucket=`` only).
_BUCKET_METHODS: dict[str, int | None] = {
    "put_object": None,
    "get_object": None,
    "head_object": None,
    "delete_object": None,
    "delete_objects": None,
    "copy_object": None,
    "list_objects": None,
    "list_objects_v2": None,
    "upload_file": 1,
    "upload_fileobj": 1,
    "download_file": 0,
    "download_fileobj": 0,
    "Bucket": 0,
    "Object": 0,
}
_QUEUE_METHODS = frozenset(
    {"send_message", "send_message_batch", "receive_message", "delete_message"}
    | {"delete_message_batch", "change_message_visibility", "get_queue_attributes"}
)
_TOPIC_METHODS = frozenset({"publish", "publish_batch"})
_BROKER_CLIENTS: dict[str, tuple[str, int | None]] = {
    # callee -> (keyword, position) of the address argument
    "kafka.KafkaProducer": ("bootstrap_servers", None),
    "kafka.KafkaConsumer": ("bootstrap_servers", None),
    "kafka.KafkaAdminClient": ("bootstrap_servers", None),
    "aiokafka.AIOKafkaProducer": ("bootstrap_servers", None),
    "aiokafka.AIOKafkaConsumer": ("bootstrap_servers", None),
    "pika.ConnectionParameters": ("host", 0),
    "pika.URLParameters": ("url", 0),
    "aio_pika.connect": ("url", 0),
    "aio_pika.connect_robust": ("url", 0),
    "kombu.Connection": ("hostname", 0),
    "celery.Celery": ("broker", None),
    "nats.connect": ("servers", 0),
}
_CONFLUENT_CLIENTS = frozenset(
    {"confluent_kafka.Producer", "confluent_kafka.Consumer", "confluent_kafka.SerializingProducer"}
    | {"confluent_kafka.DeserializingConsumer", "confluent_kafka.admin.AdminClient"}
)
_AWS_NAME = re.compile(r"^https://sqs\.[a-z0-9-]+\.amazonaws\.com/\d+/|^arn:aws:(sqs|sns):")
_PLACEHOLDER = re.compile(r"^\$\{|^<.*>$|^\s*$")


def _infra_literal(expr: ast.AST | None, ctx: PythonContext) -> list[ast.Constant]:
    """The literal strings (direct, in a list, or through a module constant) an address or
    resource name argument is made of; empty when any part comes from configuration."""
    if isinstance(expr, ast.Name):
        expr = module_value(expr.id, ctx)
    if isinstance(expr, ast.List | ast.Tuple):
        parts = [element for element in expr.elts if isinstance(element, ast.Constant)]
        return parts if len(parts) == len(expr.elts) else []
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return [expr]
    return []


def _hardcoded(parts: list[ast.Constant]) -> ast.Constant | None:
    for part in parts:
        text = str(part.value)
        if _PLACEHOLDER.search(text) or _LOCAL_GATE.search(text):
            return None  # a placeholder, or localhost (CFG001)
    return parts[0] if parts else None


@python_rule(
    code="CFG005",
    name="hardcoded-infrastructure-name",
    category=Category.CONFIGURATION,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    summary="Bucket, queue URL, topic ARN or broker address written into service code",
    calls=(
        *(f"*.{method}" for method in sorted(_BUCKET_METHODS)),
        *(f"*.{method}" for method in sorted(_QUEUE_METHODS | _TOPIC_METHODS)),
        *sorted(_BROKER_CLIENTS),
        *sorted(_CONFLUENT_CLIENTS),
    ),
    nodes=(ModuleEnd,),
    fix='Read it from configuration: Bucket=settings.orders_bucket / os.environ["ORDERS_BUCKET"].',
)
def hardcoded_infrastructure_name(node: ast.AST, ctx: PythonContext) -> None:
    """
    ## What it does
    Flags infrastructure names written as literals in service code: S3 bucket names given to
    boto3 (`Bucket="prod-orders-data"`, `s3.Bucket("...")`, `upload_file(path, "bucket",
    key)`), SQS queue URLs and SNS/SQS ARNs (`QueueUrl="https://sqs.eu-west-1.amazonaws.com/
    .../orders"`, `TopicArn="arn:aws:sns:..."`), and broker addresses in client constructors
    (Kafka `bootstrap_servers`, confluent-kafka `"bootstrap.servers"`, RabbitMQ hosts and AMQP
    URLs, Celery `broker=`). Localhost addresses are CFG001.

    ## Why it breaks production
    The same code runs in development, staging and production, each with its own buckets,
    queues and clusters. A literal name means staging writes into the production bucket (or
    production into a test one), the account id and region are pinned in code, and moving a
    cluster or renaming a queue needs a code change and a redeploy instead of a configuration
    change -- usually discovered during an incident.

    ## Example
    ```python
    s3.put_object(Bucket="acme-prod-invoices", Key=key, Body=pdf)
    producer = KafkaProducer(bootstrap_servers="kafka-1.prod.internal:9092")
    ```

    ## Use instead
    ```python
    s3.put_object(Bucket=settings.invoices_bucket, Key=key, Body=pdf)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers.split(","))
    ```
    """
    pending: dict[int, tuple[ast.Constant, str]] = ctx.rule_state(dict, module=True)
    if isinstance(node, ast.Module):  # ModuleEnd
        if not pending or _dev_only_file(ctx) or not _config_or_service_code(ctx):
            return
        for literal, what in pending.values():
            ctx.report(
                literal,
                f"{what} '{literal.value!s}' is hardcoded: every environment (dev, staging, "
                "production) gets the same one, and changing it needs a redeploy. Read it "
                "from configuration",
            )
        return
    if ctx.facts.is_test or ctx.facts.is_example or ctx.in_main_guard:
        return
    assert isinstance(node, ast.Call)
    found = _infrastructure_argument(node, ctx)
    if found is not None:
        literal, what = found
        pending.setdefault(id(literal), (literal, what))


def _infrastructure_argument(node: ast.Call, ctx: PythonContext) -> tuple[ast.Constant, str] | None:
    name = ctx.call_name or ""
    if name in _BROKER_CLIENTS:
        keyword_name, position = _BROKER_CLIENTS[name]
        literal = _hardcoded(_infra_literal(argument(node, position, keyword_name), ctx))
        return (literal, "broker address") if literal is not None else None
    if name in _CONFLUENT_CLIENTS:
        config = node.args[0] if node.args else keyword_value(node, "conf")
        if isinstance(config, ast.Name):
            config = module_value(config.id, ctx)
        if not isinstance(config, ast.Dict):
            return None
        for key, value in zip(config.keys, config.values, strict=True):
            if constant_str(key) == "bootstrap.servers":
                literal = _hardcoded(_infra_literal(value, ctx))
                return (literal, "broker address") if literal is not None else None
        return None
    func = node.func
    if not isinstance(func, ast.Attribute):
        return None
    method = func.attr
    if method in _BUCKET_METHODS:
        position = _BUCKET_METHODS[method]
        receiver = ctx.qualname(func.value) or ""
        if not receiver.startswith(("boto3.", "aioboto3.", "aiobotocore.")):
            position = None  # only the keyword form is boto3's alone
        literal = _hardcoded(_infra_literal(argument(node, position, "Bucket"), ctx))
        return (literal, "S3 bucket") if literal is not None else None
    if method in _QUEUE_METHODS or method in _TOPIC_METHODS:
        keyword_name = "QueueUrl" if method in _QUEUE_METHODS else "TopicArn"
        literal = _hardcoded(_infra_literal(keyword_value(node, keyword_name), ctx))
        if literal is None or not _AWS_NAME.search(str(literal.value)):
            return None
        return literal, ("SQS queue URL" if method in _QUEUE_METHODS else "SNS topic ARN")
    return None
