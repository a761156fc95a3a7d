"""The embedded AWS stack: ``template.yaml``'s resources created in moto, in this process, wired as the template
says (S3 -> EventBridge -> SQS -> the function that consumes each queue), and its functions' handlers ready to
invoke in their own environment, as Lambda would. No Docker and no AWS account.

The local runner (``tools.process``), ``make invoke`` (``tools.invoke``), the benchmarks and the tests all run on
it. Which handler consumes which queue, its batch size, timeout and environment are read from the template's
functions; the cutout runs the same handler the container runs, with the model named here (u2netp locally).
moto has no SES inbound, so ``deliver_mail`` stores an email the way SES's receipt rule does.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import importlib.util
import io
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tools.faults import FaultInjector, FaultPlan

REPO = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"
REGION = "eu-west-2"
LOCAL_PARAMETERS = {
    "BucketName": "picr-local-images",
    "SenderEmail": "picr@example.com",
    "OwnerEmail": "owner@example.com",
}
LOCAL_INBOUND_RECIPIENT = "photos@example.com"
SES_VERDICT_HEADERS = b"X-SES-Spam-Verdict: PASS\r\nX-SES-Virus-Verdict: PASS\r\n"
"""What SES's scan prepends to every stored email; the runner cannot scan, so it vouches for its inputs."""
SES_AUTHENTICATION = ("Authentication-Results: amazonses.com; spf=pass (spfCheck: domain of {domain} designates "
                      "192.0.2.1 as permitted sender) client-ip=192.0.2.1; envelope-from={address}; "
                      "helo=mail.{domain}; dkim=pass header.i=@{domain}; dmarc=pass header.from={domain};\r\n")
"""What SES's SPF, DKIM and DMARC checks prepend (``picr.intake.mail_auth``). The runner cannot check them either:
it vouches for the domain of the From address it reads, as SES would for a mail its domain really sent."""
STAGE_OF_QUEUE = {"WorkQueue": "ingest", "CutoutQueue": "cutout", "VariantsQueue": "variants",
                  "PublishQueue": "publish", "MailQueue": "mail", "ExportQueue": "export"}


def fake_credentials() -> None:
    """moto needs credentials to sign with; never let the runner touch a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
    }.items():
        os.environ[name] = value
    os.environ.pop("AWS_PROFILE", None)


@contextlib.contextmanager
def interpreter_environment(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` set for the duration of the block, then put back as it was.

    Only the interpreter's mapping changes, never the C environment beneath it (no ``putenv``/``unsetenv``).
    The functions' code reads the mapping. Other threads of this process (moto's server, the Function URL
    servers) read the C environment with ``getenv``: under ``make test-shifted`` libfaketime does so in any
    thread that reads the clock, re-reading ``FAKETIME`` every 10 s. glibc's ``setenv`` of a new name
    reallocates that environment under a concurrent ``getenv``, and the process dies of a segmentation fault.
    ``tests/integration/test_embedded_stack.py`` shows this within a second on the old code. It is the likely
    cause of the pytest worker that died mid-test in a browser test of stop 25's shifted run, where
    invocations swapped environments while the servers' threads ran."""
    data, encode_key, encode_value = os.environ._data, os.environ.encodekey, os.environ.encodevalue  # type: ignore[attr-defined]
    saved = {key: data.get(encode_key(key)) for key in values}
    data.update({encode_key(key): encode_value(value) for key, value in values.items()})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                data.pop(encode_key(key), None)
            else:
                data[encode_key(key)] = value


@dataclass
class StackFunction:
    """One function as the template declares it: its code, handler, timeout and environment."""

    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout: int
    module: Any = None


@dataclass
class Consumer:
    """An SQS event source mapping: which function drains which queue, in batches of what size."""

    function: StackFunction
    queue_logical_id: str
    queue_url: str
    queue_arn: str
    batch_size: int

    @property
    def stage(self) -> str:
        return STAGE_OF_QUEUE.get(self.queue_logical_id, self.function.logical_id)


@dataclass
class LambdaContext:
    """The parts of the Lambda context object that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 1024
    timeout_s: int = 60
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    @property
    def function_version(self) -> str:
        return "$LATEST"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


class EmbeddedStack:
    """The template's resources created in moto, and its SQS consumers ready to invoke."""

    def __init__(self, template_path: Path = REPO / "template.yaml", *, model: str = "u2netp",
                 models_dir: Path = REPO / "models", parameters: dict[str, str] | None = None,
                 faults: FaultPlan | None = None,
                 function_urls: dict[str, str] | None = None) -> None:
        """``function_urls`` gives a function's Function URL (``<Id>Url.FunctionUrl`` in the template) a
        real address, e.g. a local HTTP server in a browser test; otherwise it gets a placeholder."""
        import boto3

        from tools.cfn import Resolver, load_template

        self.faults = FaultInjector(faults or FaultPlan())
        if self.faults.plan.active:
            boto3.setup_default_session()
            self.faults.install(boto3.DEFAULT_SESSION)

        self.template = load_template(template_path)
        self.resources: dict[str, dict[str, Any]] = self.template["Resources"]
        self._ids: dict[str, dict[str | None, Any]] = {}
        self.resolver = Resolver(
            self.template, {**LOCAL_PARAMETERS, **(parameters or {})}, self._physical,
            {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::StackName": "picr-local",
             "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"},
        )
        self.s3 = boto3.client("s3", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.events = boto3.client("events", region_name=REGION)
        self.ses = boto3.client("ses", region_name=REGION)
        self.sns = boto3.client("sns", region_name=REGION)
        self.secrets = boto3.client("secretsmanager", region_name=REGION)
        self.local_env = {"PICR_MODEL": model, "U2NET_HOME": str(models_dir)}
        self.timings: dict[str, list[float]] = {}
        self.invocations: list[dict[str, Any]] = []
        """Every SQS-triggered invocation: stage, batch size, wall-clock start, seconds (and CPU seconds), each
        message's wait in its queue (from SQS's SentTimestamp) and how many it settled: what ``make load``
        reports."""
        self.function_urls = dict(function_urls or {})
        self._create_resources()
        self.functions = self._functions()
        self.consumers = self._consumers()

    # -- physical ids --------------------------------------------------------------------------
    def _physical(self, logical_id: str, attribute: str | None) -> Any:
        if logical_id not in self._ids:
            raise KeyError(f"{logical_id} is not created locally (type "
                           f"{self.resources.get(logical_id, {}).get('Type')})")
        return self._ids[logical_id][attribute]

    def _of_type(self, *types: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, resource in self.resources.items():
            if resource["Type"] in types and self.resolver.enabled(resource):
                yield logical_id, resource

    def props(self, resource: dict[str, Any]) -> dict[str, Any]:
        return self.resolver.resolve(resource.get("Properties", {}))

    # -- resources -----------------------------------------------------------------------------
    def _create_resources(self) -> None:
        from tools.cfn import s3_lifecycle_rule

        for logical_id, resource in self._of_type("AWS::S3::Bucket"):
            props = self.props(resource)
            name = props["BucketName"]
            self.s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
            if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
                self.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            if props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration"):
                self.s3.put_bucket_notification_configuration(
                    Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}})
            if props.get("LifecycleConfiguration"):  # stored, not run, by moto: tests read it back
                self.s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={
                    "Rules": [s3_lifecycle_rule(rule) for rule in props["LifecycleConfiguration"]["Rules"]]})
            self._ids[logical_id] = {None: name, "Arn": f"arn:aws:s3:::{name}"}
        self.bucket = next(ids[None] for lid, ids in self._ids.items()
                           if self.resources[lid]["Type"] == "AWS::S3::Bucket")
        queues = dict(self._of_type("AWS::SQS::Queue"))
        # Dead-letter queues first: the others' redrive policies point at them.
        for logical_id in sorted(queues, key=lambda lid: "RedrivePolicy" in queues[lid].get("Properties", {})):
            props = self.props(queues[logical_id])
            attributes = {"VisibilityTimeout": str(props.get("VisibilityTimeout", 30))}
            if "RedrivePolicy" in props:
                attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
            url = self.sqs.create_queue(QueueName=props["QueueName"], Attributes=attributes)["QueueUrl"]
            arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{props['QueueName']}"
            self._ids[logical_id] = {None: url, "Arn": arn, "QueueName": props["QueueName"], "QueueUrl": url}
        for logical_id, resource in self._of_type("AWS::DynamoDB::Table"):
            props = self.props(resource)
            kwargs: dict[str, Any] = {
                "TableName": props["TableName"], "KeySchema": props["KeySchema"],
                "AttributeDefinitions": props["AttributeDefinitions"], "BillingMode": "PAY_PER_REQUEST",
            }
            if props.get("GlobalSecondaryIndexes"):
                kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
            self.dynamodb.create_table(**kwargs)
            arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{props['TableName']}"
            self._ids[logical_id] = {None: props["TableName"], "Arn": arn}
        for logical_id, resource in self._of_type("AWS::Events::Rule"):
            props = self.props(resource)
            if "EventPattern" not in props:
                continue  # schedules are run by their own commands, not by the upload flow
            name = props.get("Name") or logical_id
            self.events.put_rule(Name=name, EventPattern=json.dumps(props["EventPattern"]), State="ENABLED")
            self.events.put_targets(Rule=name, Targets=[
                {"Id": target["Id"], "Arn": target["Arn"]} for target in props["Targets"]])
            self._ids[logical_id] = {None: name, "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"}
        for logical_id, resource in self._of_type("AWS::SNS::Topic"):
            name = self.props(resource).get("TopicName") or logical_id
            arn = self.sns.create_topic(Name=name)["TopicArn"]
            self._ids[logical_id] = {None: arn, "TopicArn": arn, "TopicName": name}
        for logical_id, resource in self._of_type("AWS::SecretsManager::Secret"):
            props = self.props(resource)
            # A GenerateSecretString secret gets random bytes, as CloudFormation would generate.
            generated = os.urandom(32).hex() if "GenerateSecretString" in props else "{}"
            arn = self.secrets.create_secret(Name=props.get("Name") or logical_id,
                                             SecretString=props.get("SecretString") or generated)["ARN"]
            self._ids[logical_id] = {None: arn, "Id": arn}
        # A function's Ref is its name; a synchronous Invoke of that name runs its handler here (_invoke_locally).
        for logical_id, resource in self._of_type("AWS::Serverless::Function"):
            name = self.resolver.resolve(resource["Properties"].get("FunctionName")) or logical_id
            self._ids[logical_id] = {None: name, "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"}
        # SAM names a function's URL resource <FunctionId>Url; its FunctionUrl attribute is what others get.
        for logical_id, resource in self._of_type("AWS::Serverless::Function"):
            if "FunctionUrlConfig" in resource.get("Properties", {}):
                url = self.function_urls.get(logical_id) or f"https://{logical_id.lower()}.lambda-url.{REGION}.on.aws/"
                self._ids[f"{logical_id}Url"] = {None: url, "FunctionUrl": url}
        self.ses.verify_email_identity(EmailAddress=self.resolver.parameters["SenderEmail"])

    def _functions(self) -> dict[str, StackFunction]:
        globals_env = self.template.get("Globals", {}).get("Function", {}).get("Environment", {})
        functions = {}
        for logical_id, resource in self._of_type("AWS::Serverless::Function"):
            props = resource["Properties"]
            variables = {
                **self.resolver.resolve(globals_env.get("Variables", {})),
                **self.resolver.resolve(props.get("Environment", {}).get("Variables", {})),
            }
            dockerfile = resource.get("Metadata", {}).get("Dockerfile")
            code_dir = REPO / (props.get("CodeUri") or Path(dockerfile).parent.as_posix())
            functions[logical_id] = StackFunction(
                logical_id=logical_id, code_dir=code_dir, handler=props.get("Handler", "app.handler"),
                environment={k: str(v) for k, v in variables.items()} | self.local_env,
                timeout=int(self.resolver.resolve(props.get("Timeout", 60))),
            )
        return functions

    def _consumers(self) -> list[Consumer]:
        consumers = []
        for logical_id, resource in self._of_type("AWS::Serverless::Function"):
            for event in resource["Properties"].get("Events", {}).values():
                if event["Type"] != "SQS":
                    continue
                queue_arn = self.resolver.resolve(event["Properties"]["Queue"])
                queue_logical = next(lid for lid, ids in self._ids.items() if ids.get("Arn") == queue_arn)
                consumers.append(Consumer(
                    function=self.functions[logical_id], queue_logical_id=queue_logical,
                    queue_url=self._ids[queue_logical][None], queue_arn=queue_arn,
                    batch_size=int(event["Properties"].get("BatchSize", 10)),
                ))
        return consumers

    # -- invoking ------------------------------------------------------------------------------
    def function_env(self, function: StackFunction) -> contextlib.AbstractContextManager[None]:
        """The function's own environment, as Lambda would give it, for the duration of a call."""
        return interpreter_environment(function.environment)

    def handler_of(self, function: StackFunction) -> Any:
        module_name, handler_name = function.handler.rsplit(".", 1)
        if function.module is None:
            path = function.code_dir / f"{module_name}.py"
            spec = importlib.util.spec_from_file_location(f"picr_fn_{function.code_dir.name}", path)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            with self.function_env(function):
                spec.loader.exec_module(module)
            function.module = module
            self._route_lambda_calls(module)
        return getattr(function.module, handler_name)

    def _route_lambda_calls(self, module: Any) -> None:
        """Lambda clients a function made at module scope invoke this stack's functions: moto cannot run a
        function's code, so a synchronous Invoke runs the named function's handler here, in its own
        environment, and answers as Lambda does (``FunctionError`` when the handler raised)."""
        for value in vars(module).values():
            meta = getattr(value, "meta", None)
            if getattr(getattr(meta, "service_model", None), "service_name", None) == "lambda":
                meta.events.register("before-call.lambda.Invoke", self._invoke_locally)

    def _invoke_locally(self, params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        from botocore.awsrequest import AWSResponse
        from botocore.response import StreamingBody

        name = unquote(params["url_path"].split("/functions/", 1)[1].split("/", 1)[0])
        logical_id = next(lid for lid in self.functions if name in (lid, *self._ids[lid].values()))
        parsed: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
        try:
            answer = self.invoke(logical_id, json.loads(params["body"] or b"{}"))
        except Exception as exc:  # Lambda reports an unhandled error in the payload, with HTTP 200
            answer = {"errorMessage": str(exc), "errorType": type(exc).__name__}
            parsed["FunctionError"] = "Unhandled"
        body = json.dumps(answer).encode()
        parsed["Payload"] = StreamingBody(io.BytesIO(body), len(body))
        return AWSResponse(params.get("url", ""), 200, {}, None), parsed

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Call a function's handler with ``event`` in its own environment, as Lambda would."""
        function = self.functions[logical_id]
        handler = self.handler_of(function)
        with self.function_env(function), self.faults.invocation():
            name = function.environment.get("POWERTOOLS_SERVICE_NAME", logical_id)
            return handler(event, LambdaContext(name, timeout_s=function.timeout))

    def poll_once(self, consumer: Consumer, on_record: Any = None) -> int:
        """Receive one batch for ``consumer``, invoke its handler, settle the batch; returns messages seen."""
        response = self.sqs.receive_message(
            QueueUrl=consumer.queue_url, MaxNumberOfMessages=min(consumer.batch_size, 10),
            AttributeNames=["All"], MessageSystemAttributeNames=["All"], WaitTimeSeconds=0,
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [_sqs_record(message, consumer.queue_arn) for message in self.faults.order(messages)]}
        received_at = time.time()  # the wall clock, as SQS's SentTimestamp is
        started, started_cpu = time.monotonic(), time.process_time()
        try:
            result = self.invoke(consumer.function.logical_id, event)
            failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
            if self.faults.crash_after_work():
                raise RuntimeError("injected crash after the handler's work, before the batch was settled")
        except Exception as exc:  # a crashed invocation fails the whole batch, as on Lambda
            print(f"  ! {consumer.stage} crashed: {exc!r}", file=sys.stderr)
            failed = {message["MessageId"] for message in messages}
        self.timings.setdefault(consumer.stage, []).append(time.monotonic() - started)
        cpu_s = time.process_time() - started_cpu   # this process's CPU: moto's work included, other processes' not
        self.invocations.append({
            "stage": consumer.stage, "messages": len(messages), "received_at": round(received_at, 3),
            "seconds": round(self.timings[consumer.stage][-1], 4), "cpu_s": round(cpu_s, 4),
            "settled": len(messages) - len(failed),
            "waits_s": [round(max(0.0, received_at - int(m["Attributes"]["SentTimestamp"]) / 1000), 3)
                        for m in messages],
        })
        for message in messages:
            if message["MessageId"] not in failed and self.faults.redeliver(message["MessageId"]):
                failed.add(message["MessageId"])  # at-least-once: SQS hands a finished message out again
            if message["MessageId"] in failed:
                # Visible again at once: the retry (and after 5 receives, the DLQ) comes on the next poll.
                self.sqs.change_message_visibility(QueueUrl=consumer.queue_url,
                                                   ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
            else:
                self.sqs.delete_message(QueueUrl=consumer.queue_url, ReceiptHandle=message["ReceiptHandle"])
            if on_record:
                on_record(consumer, message, message["MessageId"] not in failed)
        return len(messages)

    def drain(self, on_record: Any = None, max_rounds: int = 10_000) -> None:
        """Poll every consumer in pipeline order until a whole round finds nothing to do."""
        for _ in range(max_rounds):
            if not sum(self.poll_once(consumer, on_record) for consumer in self.faults.order(self.consumers)):
                return
        raise RuntimeError("queues did not drain")

    def queue_urls(self) -> dict[str, str]:
        """Every queue of the stack: logical id -> URL."""
        return {logical_id: self._ids[logical_id][None] for logical_id, _ in self._of_type("AWS::SQS::Queue")}

    def dead_letters(self) -> list[dict[str, Any]]:
        found = []
        for logical_id, resource in self._of_type("AWS::SQS::Queue"):
            if "RedrivePolicy" in resource.get("Properties", {}):
                continue
            url = self._ids[logical_id][None]
            while True:
                batch = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
                if not batch:
                    break
                found.extend(batch)
                for message in batch:
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return found


def _sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message shaped as Lambda's event source mapping delivers it."""
    return {
        "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
        "attributes": message.get("Attributes", {}), "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def deliver_mail(stack: EmbeddedStack, path: Path) -> str:
    """Store a raw email as SES's receipt rule does: under ``mail/`` with a random name, verdicts on top."""
    key = f"mail/{uuid.uuid4().hex}"
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=as_ses_stores(path.read_bytes()))
    return key


def as_ses_stores(raw: bytes) -> bytes:
    """A raw email as SES's receipt rule stores it: its scan verdicts and authentication results on top."""
    return SES_VERDICT_HEADERS + ses_authentication(raw) + raw


def ses_authentication(raw: bytes) -> bytes:
    """SES's authentication results vouching for the From domain (nothing when no single address is there)."""
    from_headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw).get_all("From") or []
    addresses = [address for header in from_headers for address in header.addresses]
    if len(addresses) != 1 or not addresses[0].domain:
        return b""
    address = addresses[0]
    return SES_AUTHENTICATION.format(domain=address.domain, address=address.addr_spec).encode("ascii", "replace")
