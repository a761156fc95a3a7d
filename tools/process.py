"""The local runner: the whole picr stack in one process, on moto, wired exactly as ``template.yaml`` says.

    python -m tools.process --out OUT PHOTO_OR_FOLDER [...]

It creates the template's bucket, queues, tables and EventBridge rules in moto, uploads each photo to
``inbox/``, and lets S3 → EventBridge → SQS → handler run until every queue is drained. Which handler
consumes which queue, its batch size and its environment are read from the template's functions. The
cutout runs the same handler the container runs, with the small u2netp model (``--model``).

OUT receives ``bucket/`` (a mirror of the bucket), ``mail/`` (every email as .eml and its HTML) and
``summary.json`` (one entry per input).

An ``.eml`` input is an email sent to the inbound address: it is put under ``mail/<random id>`` with SES's
verdict and authentication headers on top, exactly where SES's receipt rule writes, and the mail rule
hands it to mail-intake. Its summary entries are one per photo it brought in (``input`` is the .eml), or
one entry with status ``refused`` and the reason when nothing in it was taken. ``--allow-sender`` fills
the allowlist (``AllowedSenders``; the owner, ``owner@example.com`` here, is always on it); the inbound
lane is switched on whenever an .eml is among the inputs.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import email
import email.parser
import email.policy
import importlib.util
import json
import os
import sys
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.faults import FaultInjector, FaultPlan

REPO = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"
REGION = "eu-west-2"
LOCAL_PARAMETERS = {
    "BucketName": "picr-local-images",
    "SenderEmail": "picr@example.com",
    "OwnerEmail": "owner@example.com",
}
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".heic", ".heif", ".webp", ".gif", ".pdf", ".txt", ".tif",
                  ".tiff", ".bmp", ".mp4", ".mov", ".avif", ".eml"}
LOCAL_INBOUND_RECIPIENT = "photos@example.com"
SES_VERDICT_HEADERS = b"X-SES-Spam-Verdict: PASS\r\nX-SES-Virus-Verdict: PASS\r\n"
"""What SES's scan prepends to every stored email; the runner cannot scan, so it vouches for its inputs."""
SES_AUTHENTICATION = ("Authentication-Results: amazonses.com; spf=pass (spfCheck: domain of {domain} designates "
                      "192.0.2.1 as permitted sender) client-ip=192.0.2.1; envelope-from={address}; "
                      "helo=mail.{domain}; dkim=pass header.i=@{domain}; dmarc=pass header.from={domain};\r\n")
"""What SES's SPF, DKIM and DMARC checks prepend (``picr.mail_auth``). The runner cannot check them either:
it vouches for the domain of the From address it reads, as SES would for a mail its domain really sent."""
STAGE_OF_QUEUE = {"WorkQueue": "ingest", "CutoutQueue": "cutout", "VariantsQueue": "variants",
                  "PublishQueue": "publish", "MailQueue": "mail"}


def _fake_credentials() -> None:
    """moto needs credentials to sign with; never let the runner touch a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
    }.items():
        os.environ[name] = value
    os.environ.pop("AWS_PROFILE", None)


@dataclass
class LocalFunction:
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

    function: LocalFunction
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


class LocalStack:
    """The template's resources created in moto, and its SQS consumers ready to invoke."""

    def __init__(self, template_path: Path, *, model: str, models_dir: Path,
                 parameters: dict[str, str] | None = None, faults: FaultPlan | None = None,
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
        """Every SQS-triggered invocation: stage, batch size, wall-clock start, seconds, each message's wait in
        its queue (from SQS's SentTimestamp) and how many messages it settled: what ``make load`` reports."""
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
        # SAM names a function's URL resource <FunctionId>Url; its FunctionUrl attribute is what others get.
        for logical_id, resource in self._of_type("AWS::Serverless::Function"):
            if "FunctionUrlConfig" in resource.get("Properties", {}):
                url = self.function_urls.get(logical_id) or f"https://{logical_id.lower()}.lambda-url.{REGION}.on.aws/"
                self._ids[f"{logical_id}Url"] = {None: url, "FunctionUrl": url}
        self.ses.verify_email_identity(EmailAddress=self.resolver.parameters["SenderEmail"])

    def _functions(self) -> dict[str, LocalFunction]:
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
            functions[logical_id] = LocalFunction(
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
    @contextlib.contextmanager
    def function_env(self, function: LocalFunction) -> Iterator[None]:
        """The function's own environment, as Lambda would give it, for the duration of a call."""
        saved = {key: os.environ.get(key) for key in function.environment}
        os.environ.update(function.environment)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def handler_of(self, function: LocalFunction) -> Any:
        module_name, handler_name = function.handler.rsplit(".", 1)
        if function.module is None:
            path = function.code_dir / f"{module_name}.py"
            spec = importlib.util.spec_from_file_location(f"picr_fn_{function.code_dir.name}", path)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            with self.function_env(function):
                spec.loader.exec_module(module)
            function.module = module
        return getattr(function.module, handler_name)

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
        started = time.monotonic()
        try:
            result = self.invoke(consumer.function.logical_id, event)
            failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
            if self.faults.crash_after_work():
                raise RuntimeError("injected crash after the handler's work, before the batch was settled")
        except Exception as exc:  # a crashed invocation fails the whole batch, as on Lambda
            print(f"  ! {consumer.stage} crashed: {exc!r}", file=sys.stderr)
            failed = {message["MessageId"] for message in messages}
        self.timings.setdefault(consumer.stage, []).append(time.monotonic() - started)
        self.invocations.append({
            "stage": consumer.stage, "messages": len(messages), "received_at": round(received_at, 3),
            "seconds": round(self.timings[consumer.stage][-1], 4), "settled": len(messages) - len(failed),
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


def collect_inputs(paths: Sequence[Path]) -> list[Path]:
    """Files named on the command line, and the photo-like files inside named folders (sorted)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise SystemExit(f"not found: {path}")
    return found


def _job_status(job: dict[str, Any] | None) -> str:
    if job is None:
        return "failed"
    status = job["current_status"]
    return status if status in {"done", "needs_review", "rejected", "superseded"} else "failed"


def run(inputs: Sequence[Path], out: Path, *, model: str = "u2netp", models_dir: Path | None = None,
        parameters: dict[str, str] | None = None, quiet: bool = False,
        faults: FaultPlan | None = None) -> dict[str, Any]:
    """Process ``inputs`` end to end in moto and write OUT; returns the summary it wrote."""
    _fake_credentials()
    warnings.filterwarnings("ignore", message="No application metrics to publish")  # a failed record counts nothing
    sys.path.insert(0, str(REPO / "layers" / "pillow"))
    from moto import mock_aws

    from picr.jobs import JobStore
    from picr.stages.ingest import UploadedObject, job_id_for

    def say(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr, flush=True)

    if any(_is_mail(path) for path in inputs):  # an email needs the inbound lane, unless the caller set it
        parameters = {"InboundRecipient": LOCAL_INBOUND_RECIPIENT, **(parameters or {})}
    out.mkdir(parents=True, exist_ok=True)
    # The functions' structured logs and metrics (stdout on Lambda) go to a file; progress stays on stderr.
    with mock_aws(), (out / "functions.log").open("w") as log, contextlib.redirect_stdout(log):
        stack = LocalStack(REPO / "template.yaml", model=model,
                           models_dir=models_dir or REPO / "models", parameters=parameters, faults=faults)
        jobs = JobStore(stack.dynamodb, stack.resolver.resolve({"Ref": "JobsTable"}))
        uploads: list[tuple[Path, str, str]] = []
        mails: list[tuple[Path, str]] = []
        names: set[str] = set()
        started_at = time.time()
        for path in inputs:
            if _is_mail(path):
                mails.append((path, deliver_mail(stack, path)))
                say(f"[{path.name}] delivered to {mails[-1][1]} as SES would")
                continue
            name = _unique(path.name, names)
            key = f"inbox/{name}"
            response = stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=path.read_bytes())
            job_id = job_id_for(UploadedObject(stack.bucket, key, "", response.get("VersionId"),
                                               response.get("ETag", "").strip('"')))
            uploads.append((path, key, job_id))
            say(f"[{name}] uploaded to {key} (job {job_id})")
        product_of = {job_id: path.name for path, _key, job_id in uploads}

        messages_of: dict[str, dict[str, set[str]]] = {}

        def on_record(consumer: Consumer, message: dict[str, Any], ok: bool) -> None:
            job_id = _job_of(message)
            messages_of.setdefault(job_id or "?", {}).setdefault(consumer.stage, set()).add(message["MessageId"])
            label = product_of.get(job_id or "", job_id or "?")
            job = jobs.get(job_id) if job_id else None
            state = job["current_status"] if job else "-"
            say(f"[{label}] {consumer.stage}: {'ok' if ok else 'failed, will retry'} → {state}")

        stack.drain(on_record)
        dead = stack.dead_letters()
        mail_uploads, refused_mails = _mail_results(stack, mails)
        summary = _write_outputs(stack, jobs, uploads + mail_uploads, out, dead, messages_of)
        summary["jobs"] += [{**entry, "emails": _mail_files(out, entry["key"])} for entry in refused_mails]
        summary["counts"]["refused"] = len(refused_mails)
        summary["faults_injected"] = dict(stack.faults.injected)
        summary["invocation_seconds"] = {stage: [round(t, 4) for t in times] for stage, times in stack.timings.items()}
        summary["started_at"] = round(started_at, 3)
        summary["invocations"] = stack.invocations
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    say(f"wrote {out / 'summary.json'}")
    return summary


def _is_mail(path: Path) -> bool:
    return path.suffix.lower() == ".eml"


def deliver_mail(stack: LocalStack, path: Path) -> str:
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


def _mail_results(stack: LocalStack, mails: list[tuple[Path, str]]) -> tuple[list[tuple[Path, str, str]],
                                                                             list[dict[str, Any]]]:
    """Per email: an upload for each photo it brought into inbox/, or a ``refused`` entry saying why not."""
    from picr.config import load_settings
    from picr.mail_intake import read_mail
    from picr.stages.ingest import UploadedObject, job_id_for
    from picr.stages.mail_intake import inbox_name

    if not mails:
        return [], []  # (and without an .eml input there is no mail-intake function to ask)
    allowed = load_settings(stack.functions["MailIntakeFunction"].environment).allowed_sender_list
    uploads: list[tuple[Path, str, str]] = []
    refused: list[dict[str, Any]] = []
    for path, mail_key in mails:
        prefix = f"inbox/{inbox_name(mail_key, '')}"
        pages = stack.s3.get_paginator("list_object_versions").paginate(Bucket=stack.bucket, Prefix=prefix)
        versions = sorted((v for page in pages for v in page.get("Versions", [])), key=lambda v: v["Key"])
        for version in versions:
            obj = UploadedObject(stack.bucket, version["Key"], "", version["VersionId"], version["ETag"].strip('"'))
            uploads.append((path, version["Key"], job_id_for(obj)))
        if not versions:
            raw = stack.s3.get_object(Bucket=stack.bucket, Key=mail_key)["Body"].read()
            intake = read_mail(raw, allowed_senders=allowed)
            reasons = [intake.refusal.message] if intake.refusal else [s.message for s in intake.skipped]
            refused.append({
                "input": path.name, "input_path": str(path), "key": mail_key, "job_id": None,
                "product": intake.product, "status": "refused",
                "reason_code": intake.refusal.code if intake.refusal else "no_photo",
                "reasons": reasons or ["The email holds no photo."], "outputs": [],
            })
    return uploads, refused


def _mail_files(out: Path, mail_key: str) -> list[str]:
    """The replies about one email itself (``X-Picr-Job: mail-<id>``) among the mail OUT holds."""
    job = f"mail-{mail_key.rpartition('/')[2]}"
    return sorted(str(path.relative_to(out)) for path in (out / "mail").glob(f"*-{job}-*"))


def _job_of(message: dict[str, Any]) -> str | None:
    from picr.stages.ingest import UploadedObject, job_id_for

    body = json.loads(message["Body"])
    if "job_id" in body:
        return body["job_id"]
    detail = body.get("detail", {})
    if "object" in detail:
        obj = detail["object"]
        return job_id_for(UploadedObject(detail["bucket"]["name"], obj["key"], "", obj.get("version-id"),
                                         obj.get("etag") or obj.get("eTag")))
    return None


def _unique(name: str, taken: set[str]) -> str:
    stem, dot, suffix = name.rpartition(".")
    candidate, index = name, 2
    while candidate in taken:
        candidate = f"{stem}-{index}{dot}{suffix}" if dot else f"{name}-{index}"
        index += 1
    taken.add(candidate)
    return candidate


def _viewable_html(message: Any, html: str) -> str:
    """The email's HTML with its inline ``cid:`` images turned into data URIs, so a browser shows them."""
    for part in message.walk():
        content_id = (part.get("Content-ID") or "").strip("<>")
        if content_id and part.get_content_maintype() == "image":
            data = base64.b64encode(part.get_payload(decode=True)).decode("ascii")
            html = html.replace(f"cid:{content_id}", f"data:{part.get_content_type()};base64,{data}")
    return html


def _write_outputs(stack: LocalStack, jobs: Any, uploads: list[tuple[Path, str, str]], out: Path,
                   dead: list[dict[str, Any]], messages_of: dict[str, dict[str, set[str]]]) -> dict[str, Any]:
    from moto.ses.models import ses_backends
    from PIL import Image

    bucket_dir = out / "bucket"
    mail_dir = out / "mail"
    bucket_dir.mkdir(parents=True, exist_ok=True)
    mail_dir.mkdir(parents=True, exist_ok=True)
    paginator = stack.s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=stack.bucket):
        for obj in page.get("Contents", []):
            target = bucket_dir / obj["Key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(stack.s3.get_object(Bucket=stack.bucket, Key=obj["Key"])["Body"].read())

    mails_of: dict[str, list[str]] = {}
    for index, sent in enumerate(ses_backends[ACCOUNT][REGION].sent_messages, start=1):
        raw = sent.raw_data.encode() if isinstance(sent.raw_data, str) else sent.raw_data
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        job_id = str(parsed.get("X-Picr-Job", "unknown"))
        stem = f"{index:03d}-{job_id}-{parsed.get('X-Picr-Kind', 'mail')}"
        (mail_dir / f"{stem}.eml").write_bytes(raw)
        paths = [str((mail_dir / f"{stem}.eml").relative_to(out))]
        html = parsed.get_body(preferencelist=("html",))
        if html is not None:
            (mail_dir / f"{stem}.html").write_text(_viewable_html(parsed, html.get_content()))
            paths.append(str((mail_dir / f"{stem}.html").relative_to(out)))
        mails_of.setdefault(job_id, []).extend(paths)

    rewritten = {}
    for page in stack.s3.get_paginator("list_object_versions").paginate(Bucket=stack.bucket, Prefix="out/"):
        for version in page.get("Versions", []):
            rewritten.setdefault(version["Key"], set()).add(version["ETag"])
    dead_jobs = {_job_of(message) for message in dead}
    entries = []
    for path, key, job_id in uploads:
        job = jobs.get(job_id)
        status = _job_status(job)  # a dead-lettered duplicate of a finished job's message loses nothing
        job = job or {}
        outputs = []
        for output in job.get("outputs") or []:
            local = bucket_dir / output["key"]
            with Image.open(local) as image:
                width, height, fmt = image.width, image.height, image.format
            outputs.append({
                "channel": output["channel"], "key": output["key"], "path": str(local.relative_to(out)),
                "width": width, "height": height, "format": fmt, "watermarked": output["watermarked"],
            })
        cutout = bucket_dir / job["cutout_key"] if job.get("cutout_key") else None
        entries.append({
            "input": path.name,
            "input_path": str(path),
            "key": key,
            "job_id": job_id,
            "product": job.get("product"),
            "status": status,
            "reason_code": job.get("reason_code"),
            "reasons": job.get("reasons") or [],
            "warnings": job.get("warning_messages") or [],
            "confidence": job.get("confidence"),
            "scores": job.get("scores") or {},
            "cutout": str(cutout.relative_to(out)) if cutout and cutout.exists() else None,
            "manifest": str((bucket_dir / job["manifest_key"]).relative_to(out)) if job.get("manifest_key") else None,
            "outputs": outputs,
            "emails": mails_of.get(job_id, []),
            "history": [row["status"] for row in jobs.history(job_id)],
            # distinct SQS messages per stage (a redelivery is the same message): one each, or a duplicate
            "messages": {stage: len(ids) for stage, ids in messages_of.get(job_id, {}).items()},
        })
    summary = {
        "bucket": stack.bucket,
        "counts": {status: sum(e["status"] == status for e in entries)
                   for status in ("done", "needs_review", "rejected", "superseded", "failed")},
        "dead_letters": len(dead),
        "dead_letter_jobs": sorted(job_id for job_id in dead_jobs if job_id),
        # an out/ key written with different bytes more than once would be a duplicate output
        "outputs_with_differing_versions": sorted(key for key, etags in rewritten.items() if len(etags) > 1),
        "jobs": entries,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", type=Path, help="photos, .eml files, or folders of them")
    parser.add_argument("--out", type=Path, required=True, help="where to write bucket/, mail/, summary.json")
    parser.add_argument("--model", default="u2netp", help="rembg model for the local cutout (default u2netp)")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--allow-sender", action="append", default=[], metavar="ADDRESS",
                        help="accept emailed photos (.eml inputs) from this address or @domain; repeatable")
    faults = parser.add_argument_group("fault injection (what SQS, Lambda and AWS really do)")
    faults.add_argument("--faults", type=float, default=0.0, metavar="RATE",
                        help="share of invocations in which one S3/SES/DynamoDB call fails transiently")
    faults.add_argument("--crash-rate", type=float, default=0.0,
                        help="share of invocations that crash after their work, before the batch is settled")
    faults.add_argument("--redeliver", type=int, default=0, metavar="N",
                        help="deliver every message N more times after it succeeded")
    faults.add_argument("--shuffle", action="store_true", help="poll queues and handle batches out of order")
    faults.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    plan = FaultPlan(call_failure_rate=args.faults, crash_rate=args.crash_rate, redeliveries=args.redeliver,
                     shuffle=args.shuffle, seed=args.seed)
    inputs = collect_inputs(args.inputs)
    if not inputs:
        raise SystemExit("no photos found in the given paths")
    parameters = {"AllowedSenders": ",".join(args.allow_sender)} if args.allow_sender else None
    summary = run(inputs, args.out, model=args.model, models_dir=args.models_dir, quiet=args.quiet, faults=plan,
                  parameters=parameters)
    counts = summary["counts"]
    print(json.dumps({"out": str(args.out), **counts, "dead_letters": summary["dead_letters"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
