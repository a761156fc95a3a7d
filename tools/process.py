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
import json
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tools.embedded_stack import (
    ACCOUNT,
    LOCAL_INBOUND_RECIPIENT,
    REGION,
    REPO,
    Consumer,
    EmbeddedStack,
    deliver_mail,
    fake_credentials,
)
from tools.faults import FaultPlan

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".heic", ".heif", ".webp", ".gif", ".pdf", ".txt", ".tif",
                  ".tiff", ".bmp", ".mp4", ".mov", ".avif", ".eml"}


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


def _job_status(job: Any) -> str:
    """The summary's word for a job: its state once settled, else ``failed`` (it never got there)."""
    from picr.job import SETTLED

    return job.status.value if job is not None and job.status in SETTLED else "failed"


def run(inputs: Sequence[Path], out: Path, *, model: str = "u2netp", models_dir: Path | None = None,
        parameters: dict[str, str] | None = None, quiet: bool = False,
        faults: FaultPlan | None = None) -> dict[str, Any]:
    """Process ``inputs`` end to end in moto and write OUT; returns the summary it wrote."""
    fake_credentials()
    warnings.filterwarnings("ignore", message="No application metrics to publish")  # a failed record counts nothing
    sys.path.insert(0, str(REPO / "layers" / "pillow"))
    from moto import mock_aws

    from picr.aws.jobs import JobStore
    from picr.stages.ingest import UploadedObject, job_id_for

    def say(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr, flush=True)

    if any(_is_mail(path) for path in inputs):  # an email needs the inbound lane, unless the caller set it
        parameters = {"InboundRecipient": LOCAL_INBOUND_RECIPIENT, **(parameters or {})}
    out.mkdir(parents=True, exist_ok=True)
    # The functions' structured logs and metrics (stdout on Lambda) go to a file; progress stays on stderr.
    with mock_aws(), (out / "functions.log").open("w") as log, contextlib.redirect_stdout(log):
        stack = EmbeddedStack(REPO / "template.yaml", model=model,
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
            state = job.status if job else "-"
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


def _mail_results(stack: EmbeddedStack, mails: list[tuple[Path, str]]) -> tuple[list[tuple[Path, str, str]],
                                                                             list[dict[str, Any]]]:
    """Per email: an upload for each photo it brought into inbox/, or a ``refused`` entry saying why not."""
    from picr.intake.mail import read_mail
    from picr.settings import MailIntakeSettings
    from picr.stages.ingest import UploadedObject, job_id_for
    from picr.stages.mail_intake import inbox_name

    if not mails:
        return [], []  # (and without an .eml input there is no mail-intake function to ask)
    allowed = MailIntakeSettings.from_environment(stack.functions["MailIntakeFunction"].environment).allowed_sender_list
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


def _write_outputs(stack: EmbeddedStack, jobs: Any, uploads: list[tuple[Path, str, str]], out: Path,
                   dead: list[dict[str, Any]], messages_of: dict[str, dict[str, set[str]]]) -> dict[str, Any]:
    from moto.ses.models import ses_backends
    from PIL import Image

    from picr.job import Job, Status

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
        job = job or Job(job_id=job_id, status=Status.INGESTED, updated_at="")
        outputs = []
        for output in job.outputs:
            local = bucket_dir / output.key
            with Image.open(local) as image:
                width, height, fmt = image.width, image.height, image.format
            outputs.append({
                "channel": output.channel, "key": output.key, "path": str(local.relative_to(out)),
                "width": width, "height": height, "format": fmt, "watermarked": output.watermarked,
            })
        cutout = bucket_dir / job.cutout_key if job.cutout_key else None
        entries.append({
            "input": path.name,
            "input_path": str(path),
            "key": key,
            "job_id": job_id,
            "product": job.product or None,
            "status": status,
            "reason_code": job.reason_code,
            "reasons": list(job.reasons),
            "warnings": list(job.warning_messages),
            "confidence": job.confidence,
            "scores": job.scores,
            "cutout": str(cutout.relative_to(out)) if cutout and cutout.exists() else None,
            "manifest": str((bucket_dir / job.manifest_key).relative_to(out)) if job.manifest_key else None,
            "outputs": outputs,
            "emails": mails_of.get(job_id, []),
            "history": [row.status.value for row in jobs.history(job_id)],
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
