"""Review: the owner settles a held job from a signed link — approve, reject, or retry with the hosted engine.

``show`` (GET) only ever renders the page; ``decide`` (POST from that page) acts. A mail client or a
link scanner fetching the URL therefore changes nothing. Every action is one conditional transition
out of ``needs_review`` that also spends the token (see :mod:`picr.links.review`), with the link, the
token id and the requester recorded in the history row, so the history answers "who decided this, from
which link, and when" long after the fact.

After the transition the follow-up (hand-off to variants or cutout, moving a rejected source) runs
like every other stage's: recorded on the job once done, and finished by a repeat POST of the same
token if a crash cut it short.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from botocore.exceptions import ClientError

from picr.aws.bucket import ImageBucket, not_found, rejected_key
from picr.aws.fixer import LambdaFixer
from picr.aws.jobs import JobStore
from picr.aws.queues import QueueSender, StageMessage
from picr.aws.secrets import Secrets
from picr.intake.naming import UNNAMED_PRODUCT, safe_file_name
from picr.job import Handoff, Job, Status
from picr.links.download import REDIRECT_EXPIRY_S, read_download
from picr.links.review import LABELS, LinkRefused, ReviewToken, mint_token, offered_actions, read_token
from picr.links.tokens import TOKEN_PARAMETER, link_url
from picr.pages.requester import Requester, same_origin
from picr.pages.review import PAGE_HEADERS, PageButton, render_result_page, render_review_page
from picr.pipeline import hand_off
from picr.settings import ReviewSettings

FIX_PATH = "fix"
"""The fix page's path on the review function's URL (``picr.stages.review_fix``)."""
MAX_FORM_BYTES = 4096
"""The page's form posts a token and an action name (a few hundred bytes); anything larger is not ours."""
MAX_USER_AGENT_CHARS = 256
"""Enough to name the browser and device in the audit trail; a longer header is cut, never stored whole."""


@dataclass
class ReviewContext:
    bucket: ImageBucket
    jobs: JobStore
    variants_queue: QueueSender
    cutout_queue: QueueSender
    signing_key: Callable[[], bytes]
    hosted_retry: bool = False
    fixer: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    """Runs the owner's tap and brush edits in the cutout container (``picr.stages.review_fix``); None when
    the deployment does not wire the review function to it, and then the page offers no fix."""

    def offered(self, job: Job) -> list[str]:
        """The actions this deployment offers for ``job`` (the page's buttons, the links it accepts)."""
        return offered_actions(job, hosted_retry=self.hosted_retry, owner_fix=self.fixer is not None)


def review_context(settings: ReviewSettings, secrets: Secrets, *, s3: Any, dynamodb: Any, sqs: Any,
                   lambda_client: Any) -> ReviewContext:
    """The review function's collaborators, built once per container from its settings and clients (``s3``
    signs the download links, so it must address the bucket's regional host; ``lambda_client`` runs the fix
    page's edits in the cutout function, when the deployment names it)."""
    return ReviewContext(
        bucket=ImageBucket(s3, settings.bucket),
        jobs=JobStore(dynamodb, settings.jobs_table),
        variants_queue=QueueSender(sqs, settings.variants_queue_url),
        cutout_queue=QueueSender(sqs, settings.cutout_queue_url),
        signing_key=secrets.key(settings.review_secret_arn),
        hosted_retry=settings.hosted_retry,
        fixer=LambdaFixer(lambda_client, settings.fix_function) if settings.fix_function else None,
    )


@dataclass(frozen=True)
class ReviewResponse:
    status: int
    html: str
    outcome: str
    """For logs and metrics: ``shown``, ``approve``, ``reject``, ``retry``, ``download`` or ``refused:<reason>``."""
    job_id: str | None = None
    headers: dict[str, str] = field(default_factory=lambda: dict(PAGE_HEADERS))
    """The review pages' own headers, unless a page needs others (the fix page allows its one script)."""


class _Refused(Exception):
    def __init__(self, reason: str, job: Job | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.job = job


_REFUSALS: dict[str, tuple[int, str, str]] = {
    "missing": (400, "This page opens from a picr email",
                "Use the Approve, Reject or Retry button in your picr email."),
    "malformed": (403, "This link is not valid",
                  "It may have been cut short when it was copied. Use the button in your picr email."),
    "forged": (403, "This link is not valid",
               "It may have been cut short when it was copied. Use the button in your picr email."),
    "expired": (410, "This link has expired",
                "Review links work for a few days. Products still on hold come with fresh links in the daily "
                "reminder email."),
    "unknown-job": (410, "This product is no longer on record", "There is nothing left to decide."),
    "used": (409, "This link was already used", "Each button works once; the decision it made stands."),
    "decided": (409, "Already decided", "This product is no longer waiting for review."),
    "not-offered": (403, "Not available", "This action is not available for this product."),
    "wrong-action": (403, "This link is for a different action", "Nothing was changed."),
    "cross-site": (403, "Not from the review page", "Decisions are only taken from the review page itself."),
    "images-gone": (410, "The photos for this product are no longer stored",
                    "The photo or the attempted cutout was removed from your picr bucket, so there is nothing "
                    "left to review. Upload the photo again to start over."),
}

_NOW_IS = {
    Status.INGESTED: "it is being cut out again",
    Status.CUT: "its images are being made",
    Status.VARIED: "its images are being made",
    Status.DONE: "its images were made and sent",
    Status.REJECTED: "it was rejected",
    Status.SUPERSEDED: "a newer photo of it replaced this one",
    Status.NEEDS_REVIEW: "it was held again, and a newer email has the current buttons",
}


def _refusal_page(refused: _Refused) -> ReviewResponse:
    status, title, message = _REFUSALS[refused.reason]
    job = refused.job
    product = (job.product if job else "") or UNNAMED_PRODUCT
    if refused.reason == "decided" and job is not None:
        message = f"{product} is no longer waiting for review: {_NOW_IS.get(job.status, 'it moved on')}."
    elif refused.reason == "images-gone":
        message = f"{product}: {message}"
    job_id = job.job_id if job else None
    return ReviewResponse(status, render_result_page(title=title, message=message, job_id=job_id),
                          f"refused:{refused.reason}", job_id)


def _verified(token_text: str | None, ctx: ReviewContext, now: datetime) -> ReviewToken:
    if not token_text:
        raise _Refused("missing")
    try:
        return read_token(ctx.signing_key(), token_text, now=now)
    except LinkRefused as refused:
        raise _Refused(refused.reason) from refused


def _job(token: ReviewToken, ctx: ReviewContext) -> Job:
    job = ctx.jobs.get(token.job_id)
    if job is None:
        raise _Refused("unknown-job")
    return job


def _check_held(token: ReviewToken, job: Job, ctx: ReviewContext) -> None:
    """Still the hold this link was minted for, and the action is still one this job offers."""
    if token.nonce in job.spent_tokens:
        raise _Refused("used", job)
    if job.status != Status.NEEDS_REVIEW or job.updated_at != token.held_at:
        raise _Refused("decided", job)
    if token.action not in ctx.offered(job):
        raise _Refused("not-offered", job)


def show(token_text: str | None, ctx: ReviewContext, *, now: datetime) -> ReviewResponse:
    """GET: the page with both images and the buttons; changes nothing, whoever fetches it."""
    try:
        token = _verified(token_text, ctx, now)
        job = _job(token, ctx)
        _check_held(token, job, ctx)
        original, cutout = _held_images(job, ctx)
    except _Refused as refused:
        return _refusal_page(refused)
    key = ctx.signing_key()
    buttons = []
    # The link's own action first (the primary button), then the others, minted for the same hold and
    # expiry: whoever holds one of this email's links could click any of its buttons anyway.
    actions = ctx.offered(job)
    fix_url = None
    for action in sorted(actions, key=lambda a: a != token.action):
        page_token = token_text if action == token.action else mint_token(
            key, job_id=token.job_id, action=action, kind=token.kind, held_at=token.held_at,
            expires_at=token.expires_at)
        if action == "fix":  # a link to the fix page (which also only shows), not a decision form
            fix_url = link_url("", page_token, FIX_PATH)
            continue
        buttons.append(PageButton(action, LABELS[action], page_token))
    held_since = datetime.fromisoformat(job.updated_at)
    html = render_review_page(
        job_id=token.job_id,
        product=job.product or UNNAMED_PRODUCT,
        reasons=list(job.reasons),
        held_since=f"{held_since:%d %b %Y, %H:%M} UTC",
        original=original,
        cutout=cutout,
        buttons=buttons,
        fix_url=fix_url,
    )
    return ReviewResponse(200, html, "shown", token.job_id)


def _held_images(job: Job, ctx: ReviewContext) -> tuple[bytes, bytes | None]:
    """The photo and the attempted cutout the page shows; refused (a clear page) when either is gone."""
    original = ctx.bucket.get_optional(job.source_work_key) if job.source_work_key else None
    cutout = ctx.bucket.get_optional(job.cutout_key) if job.cutout_key else None
    if original is None or (job.cutout_key and cutout is None):
        raise _Refused("images-gone", job)
    return original, cutout


def posted(body: str | None) -> tuple[str | None, str | None]:
    """The token and the action a decision form posts (nothing at all from a body larger than the form)."""
    form = parse_qs(body or "") if len(body or "") <= MAX_FORM_BYTES else {}
    token, action = ((form.get(name) or [None])[0] for name in (TOKEN_PARAMETER, "action"))
    return token, action


def decide(token_text: str | None, action: str | None, ctx: ReviewContext, *, now: datetime,
           iso: Callable[[datetime], str], requester: Requester) -> ReviewResponse:
    """POST from the page: verify everything, then perform the token's action exactly once.

    ``iso`` formats times for the job store (the handler passes ``picr.runtime.iso``; the stage does not
    import the handler runtime, whose Powertools singletons read the function's environment on import).
    """
    try:
        if not same_origin(requester):
            raise _Refused("cross-site")
        token = _verified(token_text, ctx, now)
        if action != token.action or token.action not in _ACTIONS:
            raise _Refused("wrong-action")
        job = _job(token, ctx)
        if token.nonce in job.spent_tokens:
            _finish(job, ctx)  # a repeat of a decision a crash cut short: only complete its follow-up
        _check_held(token, job, ctx)
        moved = _ACTIONS[token.action](token, job, ctx, iso(now), _audit(token, requester, iso))
        if not moved:
            raise _Refused("decided", ctx.jobs.get(token.job_id))
    except _Refused as refused:
        return _refusal_page(refused)
    job = ctx.jobs.get(token.job_id) or job
    _finish(job, ctx)
    title, message = _done_message(token.action, job)
    return ReviewResponse(200, render_result_page(title=title, message=message, job_id=token.job_id),
                          token.action, token.job_id)


def _audit(token: ReviewToken, requester: Requester, iso: Callable[[datetime], str]) -> dict[str, Any]:
    """The history row's detail: which action, from which link, by which browser and address."""
    detail = {
        "action": token.action,
        "by": "review link",
        "link": token.kind,
        "token_id": token.nonce,
        "link_expires_at": iso(token.expires_at),
        "source_ip": requester.source_ip,
        "user_agent": (requester.user_agent or "")[:MAX_USER_AGENT_CHARS] or None,
    }
    return {key: value for key, value in detail.items() if value is not None}


def _move(to: Status, token: ReviewToken, ctx: ReviewContext, at: str, audit: dict, attrs: dict[str, Any]) -> bool:
    """The decision's one conditional write: out of the hold this token was minted for, spending the token."""
    return ctx.jobs.transition(token.job_id, to, allowed_from={Status.NEEDS_REVIEW}, at=at,
                               attrs={"review_decision": audit, **attrs}, detail=audit,
                               unchanged_since=token.held_at, spend_token=token.nonce)


def _approve(token: ReviewToken, job: Job, ctx: ReviewContext, at: str, audit: dict) -> bool:
    """Trust the held cutout: back to ``cut``, and the variants stage builds and publishes as usual."""
    return _move(Status.CUT, token, ctx, at, audit, {
        "review_round": job.review_round + 1, Handoff.VARIANTS: False, Handoff.PUBLISH_REVIEW: False})


def _reject(token: ReviewToken, job: Job, ctx: ReviewContext, at: str, audit: dict) -> bool:
    """Close the job; the kept original moves to ``rejected/<job_id>/``."""
    return _move(Status.REJECTED, token, ctx, at, audit, {
        "reason_code": "rejected_in_review", "moved": False,
        "rejected_key": rejected_key(token.job_id, safe_file_name(job.source_file))})


def _retry(token: ReviewToken, job: Job, ctx: ReviewContext, at: str, audit: dict) -> bool:
    """Back to ``ingested`` with the hosted engine asked for: the cutout stage runs again on the same source."""
    return _move(Status.INGESTED, token, ctx, at, audit, {
        "review_round": job.review_round + 1, "engine_override": "hosted",
        Handoff.CUTOUT: False, Handoff.VARIANTS: False, Handoff.PUBLISH_REVIEW: False})


_ACTIONS: dict[str, Callable[[ReviewToken, Job, ReviewContext, str, dict], bool]] = {
    "approve": _approve, "reject": _reject, "retry": _retry,
}
"""Each decision starts a new review round when it sends the job back through the pipeline: publish keys
its once-only notices on the round, so a second hold after a retry gets its own review email."""


def _finish(job: Job, ctx: ReviewContext) -> None:
    """The follow-up of a decision, each step recorded once done (safe to run again)."""
    message = StageMessage(job_id=job.job_id)
    if job.status == Status.CUT:
        hand_off(ctx.jobs, job, Handoff.VARIANTS, ctx.variants_queue, message)
    elif job.status == Status.INGESTED:
        hand_off(ctx.jobs, job, Handoff.CUTOUT, ctx.cutout_queue, message)
    elif job.status == Status.REJECTED and job.moved is False:
        # The kept original (jobs opened before originals/ existed still have theirs in inbox/ only).
        source_key, version = ((job.original_key, None) if job.original_kept
                               else (job.source_key, job.source_version))
        try:
            ctx.bucket.move(source_key, job.rejected_key, version)
        except ClientError as exc:
            # Already gone (an inbox/ original the owner deleted, or that expired): the job stays rejected.
            if not not_found(exc):
                raise
        ctx.jobs.update(job.job_id, {"moved": True})


def download(token_text: str | None, ctx: ReviewContext, *, now: datetime) -> ReviewResponse:
    """GET /download: a download link from the ready email, redirected to a presigned URL minted now (a
    presigned URL dies with the role's credentials; see ``picr.links.download``)."""
    try:
        key = read_download(ctx.signing_key(), token_text, now=now)
    except LinkRefused as refused:
        page = render_result_page(title="This link does not work", message="The download link is not valid or has "
                                  "expired. Published images stay in your picr bucket under out/; a zip can be "
                                  "asked for again from your shop page.")
        return ReviewResponse(403, page, f"refused:{refused.reason}")
    location = ctx.bucket.presign(key, REDIRECT_EXPIRY_S)  # where the redirect sends the browser
    return ReviewResponse(302, "", "download", headers={**PAGE_HEADERS, "Location": location})


def _done_message(action: str, job: Job) -> tuple[str, str]:
    product = job.product or UNNAMED_PRODUCT
    if action == "approve":
        return "Approved", (f"The images for {product} are being made from this cutout now. The usual "
                            "“images ready” email follows in a minute or two.")
    if action == "reject":
        return "Rejected", (f"{product} is closed and nothing was made from it. The photo is kept at "
                            f"{job.rejected_key}.")
    return "Sent for another try", (f"{product} is being cut out again with the hosted engine. You will get "
                                    "an email with the result.")
