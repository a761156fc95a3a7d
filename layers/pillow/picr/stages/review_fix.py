"""The fix page of a held job: tap the product, brush what is wrong, preview, publish this cutout.

Same credential as the rest of the review lane: a signed link naming the job, the action (``fix``) and the
hold, with an expiry (``picr.links.review``). ``GET /fix`` only renders the page. Each preview is a POST
from that page (same-origin checks as a decision) carrying the link and the full list of edits; the
edits are validated here (``picr.pages.edits``) before anything runs, the cutout container replays them
(``picr.stages.fix``), and the preview is appended to the job's history with its edits and the gate's verdict,
in one conditional write that also requires the job to still be in the hold the link names. Previews do
not spend the link; "Publish this cutout" does, in the same conditional transition that moves the job
to ``cut`` with the fixed cutout, so a used, forged, expired or superseded link changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from picr.aws.fixer import FixFailed
from picr.intake.naming import UNNAMED_PRODUCT
from picr.job import Handoff, Job, Status
from picr.links.review import ReviewToken
from picr.links.tokens import TOKEN_PARAMETER
from picr.pages.edits import DEFAULT_LIMITS, EditRefused, edits_to_json, parse_edits
from picr.pages.fix import JSON_HEADERS, fix_page_headers, render_fix_page
from picr.pages.requester import Requester, same_origin
from picr.stages.review import (
    _REFUSALS,
    ReviewContext,
    ReviewResponse,
    _audit,
    _check_held,
    _finish,
    _held_images,
    _job,
    _refusal_page,
    _Refused,
    _verified,
)

MAX_PREVIEWS = 200
"""Previews per job (never reset: a job held again has what is left). Each one runs the model in the cutout
container; a fix takes a handful, and a page left running (or a script with a stolen link) must not run up
the bill."""
MAX_BODY_BYTES = 64 * 1024
"""A request with every edit at its limits is about 40 KB of JSON; anything larger is not from the page."""
PREVIEW_COUNTER = "fix_previews"

_FIX_REFUSALS: dict[str, tuple[int, str, str]] = {
    "bad-edits": (422, "These edits cannot be used", "Nothing was changed. Undo the last edit and try again."),
    "too-many-previews": (429, "Too many previews", "This product has had as many previews as one review allows. "
                          "Publish the cutout you have, or approve or reject it from the email."),
    "fix-failed": (502, "The preview could not be made", "Nothing was changed. Try again in a moment."),
}


@dataclass(frozen=True)
class FixResponse:
    """A JSON answer to the page's script."""

    status: int
    body: dict[str, Any]
    outcome: str
    """For logs and metrics: ``fix_preview``, ``fix_publish`` or ``refused:<reason>``."""
    job_id: str | None = None

    headers = JSON_HEADERS

    @property
    def html(self) -> str:
        """The response body (named as a ``ReviewResponse``'s, so the handler answers both alike)."""
        return json.dumps(self.body, separators=(",", ":"))


def fix_posted(body: str | None) -> tuple[str | None, Any]:
    """The link and the edits the page's JSON request carries (neither from anything else, or a body too large)."""
    try:
        payload = json.loads(body or "") if len(body or "") <= MAX_BODY_BYTES else {}
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    token = payload.get(TOKEN_PARAMETER)
    return (token if isinstance(token, str) else None), payload.get("edits")


def _refused_json(reason: str, job: Job | None, detail: str | None = None) -> FixResponse:
    status, title, message = _FIX_REFUSALS.get(reason) or _REFUSALS[reason]
    body = {"refused": reason, "title": title, "message": message}
    if detail:
        body["detail"] = detail
    return FixResponse(status, body, f"refused:{reason}", job.job_id if job else None)


def _refusal(refused: Exception, job: Job | None) -> FixResponse:
    """The page's answer to a refused preview or publish: why, and that nothing was changed."""
    if isinstance(refused, _Refused):
        return _refused_json(refused.reason, refused.job or job)
    return _refused_json("bad-edits" if isinstance(refused, EditRefused) else "fix-failed", job, str(refused))


def _fix_link(token_text: str | None, ctx: ReviewContext, now: datetime) -> tuple[ReviewToken, Job]:
    token = _verified(token_text, ctx, now)
    if token.action != "fix":
        raise _Refused("wrong-action")
    job = _job(token, ctx)
    _check_held(token, job, ctx)
    return token, job


def show_fix(token_text: str | None, ctx: ReviewContext, *, now: datetime) -> ReviewResponse:
    """GET: the page with the photo, the held cutout over it and the tools; changes nothing."""
    try:
        token, job = _fix_link(token_text, ctx, now)
        original, cutout = _held_images(job, ctx)
    except _Refused as refused:
        return _refusal_page(refused)
    html = render_fix_page(job_id=token.job_id, product=job.product or UNNAMED_PRODUCT, reasons=list(job.reasons),
                           original=original, cutout=cutout or b"", size=_size(job), token=token_text or "",
                           limits=DEFAULT_LIMITS)
    return ReviewResponse(200, html, "fix_shown", token.job_id, headers=fix_page_headers())


def _size(job: Job) -> tuple[int, int]:
    """The photo's (width, height): the page reports every edit in these pixels."""
    return int(job.width or 0), int(job.height or 0)


def _request(job: Job, edits: list[dict[str, Any]], *, publish: bool = False,
             nonce: str | None = None) -> dict[str, Any]:
    """The cutout container's request: the held images, the edits, and for a publish the link's nonce."""
    request = {"job_id": job.job_id, "source_key": job.source_work_key, "cutout_key": job.cutout_key,
               "edits": edits, "warnings": list(job.warnings), "publish": publish}
    if nonce:
        request["nonce"] = nonce
    return {"fix": request}


def _run(ctx: ReviewContext, request: dict[str, Any], job: Job) -> dict[str, Any]:
    if ctx.fixer is None:
        raise _Refused("not-offered", job)
    answer = ctx.fixer(request)
    if "refused" in answer:  # the container's own validation; ours should have caught it first
        raise EditRefused(answer["refused"])
    return answer


def _verdict(answer: dict[str, Any]) -> dict[str, Any]:
    return {key: answer[key] for key in ("passed", "confidence", "reasons", "coverage") if key in answer}


def _checked(token_text: str | None, raw_edits: Any, ctx: ReviewContext, now: datetime,
             requester: Requester) -> tuple[ReviewToken, Job, list[dict[str, Any]]]:
    """Everything a preview and a publish must pass before the container is asked anything."""
    if not same_origin(requester):
        raise _Refused("cross-site")
    token, job = _fix_link(token_text, ctx, now)
    edits = edits_to_json(parse_edits(raw_edits, _size(job)))
    return token, job, edits


def _record_preview(token: ReviewToken, seen: int, ctx: ReviewContext, at: str, detail: dict[str, Any]) -> None:
    """Append the preview to the history while the hold lasts; a preview recorded concurrently (another tab)
    moves the counter on, so the write is tried once more with the count read again."""
    for _attempt in range(2):
        if ctx.jobs.note(token.job_id, "fix_preview", at=at, status=Status.NEEDS_REVIEW,
                         unchanged_since=token.held_at, counter=PREVIEW_COUNTER, seen=seen, limit=MAX_PREVIEWS,
                         detail=detail):
            return
        job = ctx.jobs.get(token.job_id)
        if job is None:
            raise _Refused("unknown-job")
        _check_held(token, job, ctx)   # the job moved on while the preview ran: used / decided
        seen = job.fix_previews
        if seen >= MAX_PREVIEWS:
            raise _Refused("too-many-previews", job)
    raise _Refused("fix-failed", job)


def preview(token_text: str | None, raw_edits: Any, ctx: ReviewContext, *, now: datetime,
            iso: Callable[[datetime], str], requester: Requester) -> FixResponse:
    """POST /fix/preview: the edited cutout at page size and the gate's sentences; recorded in the history."""
    job = None
    try:
        token, job, edits = _checked(token_text, raw_edits, ctx, now, requester)
        seen = job.fix_previews
        if seen >= MAX_PREVIEWS:
            raise _Refused("too-many-previews", job)
        answer = _run(ctx, _request(job, edits), job)
        detail = {**_audit(token, requester, iso), "action": "fix_preview", "edits": edits, **_verdict(answer)}
        _record_preview(token, seen, ctx, iso(now), detail)
    except (_Refused, EditRefused, FixFailed) as refused:
        return _refusal(refused, job)
    body = {"mask": answer["mask"], "edits": len(edits), **_verdict(answer)}
    return FixResponse(200, body, "fix_preview", token.job_id)


def publish(token_text: str | None, raw_edits: Any, ctx: ReviewContext, *, now: datetime,
            iso: Callable[[datetime], str], requester: Requester) -> FixResponse:
    """POST /fix/publish: the edited cutout replaces the held one, marked owner-approved, and goes on to
    variants and publish exactly as an approval does; the link is spent."""
    job = None
    try:
        if not same_origin(requester):
            raise _Refused("cross-site")
        token = _verified(token_text, ctx, now)
        job = _job(token, ctx) if token.action == "fix" else None
        if job is not None and token.nonce in job.spent_tokens:
            _finish(job, ctx)  # a repeat of a publish a crash cut short: only complete its follow-up
        token, job, edits = _checked(token_text, raw_edits, ctx, now, requester)
        if not edits:
            raise EditRefused("no edits: use Approve to publish the cutout as it is")
        answer = _run(ctx, _request(job, edits, publish=True, nonce=token.nonce), job)
        audit = {**_audit(token, requester, iso), "action": "fix"}
        owner_fix = {"edits": edits, "held_cutout_key": job.cutout_key, **_verdict(answer)}
        attrs = {"review_round": job.review_round + 1, "review_decision": audit, Handoff.VARIANTS: False,
                 Handoff.PUBLISH_REVIEW: False, "cutout_key": answer["cutout_key"], "owner_approved": True,
                 "owner_fix": owner_fix, "confidence": answer["confidence"], "coverage": answer["coverage"],
                 "scores": answer["scores"], "reasons": answer["reasons"]}
        moved = ctx.jobs.transition(token.job_id, Status.CUT, allowed_from={Status.NEEDS_REVIEW}, at=iso(now),
                                    attrs=attrs, detail={**audit, "edits": edits, **_verdict(answer)},
                                    unchanged_since=token.held_at, spend_token=token.nonce)
        if not moved:
            raise _Refused("decided", ctx.jobs.get(token.job_id))
    except (_Refused, EditRefused, FixFailed) as refused:
        return _refusal(refused, job)
    job = ctx.jobs.get(token.job_id) or job
    _finish(job, ctx)
    product = job.product or UNNAMED_PRODUCT
    body = {"published": True, "title": "Publishing your cutout",
            "message": f"The images for {product} are being made from your cutout now. The usual “images ready” "
                       "email follows in a minute or two."}
    return FixResponse(200, body, "fix_publish", token.job_id)


FIX_STEPS: dict[str, Callable[..., FixResponse]] = {"preview": preview, "publish": publish}
"""The page's two requests, by the last part of their path (``PREVIEW_PATH``, ``PUBLISH_PATH``)."""


def fix_step(step: str, body: str | None, ctx: ReviewContext, *, now: datetime, iso: Callable[[datetime], str],
             requester: Requester) -> FixResponse:
    """A POST to ``fix/<step>``: the page's JSON request, to the step it names (an unknown one is refused)."""
    act = FIX_STEPS.get(step)
    if act is None:
        return _refused_json("not-offered", None)
    token, edits = fix_posted(body)
    return act(token, edits, ctx, now=now, iso=iso, requester=requester)
