"""Who an email is from, as far as SES vouches for it: one well-formed From address whose domain SES's
checks authenticate. Pure: it reads the header section only (``email.parser.BytesHeaderParser``).

What SES writes. A receipt rule with ``ScanEnabled`` judges every mail (spam, virus, SPF, DKIM, DMARC:
``PASS``, ``FAIL``, ``GRAY``, ``PROCESSING_FAILED``, see AWS's "Contents of notifications for Amazon SES
email receiving", https://docs.aws.amazon.com/ses/latest/dg/receiving-email-notifications-contents.html)
and the copy it stores in S3 carries those verdicts as header fields SES prepends above the sender's own.
AWS documents the verdicts, not the stored spelling; this is the spelling of mail stored by SES receiving
(the authentication results in RFC 8601 form, authserv-id ``amazonses.com``)::

    X-SES-Spam-Verdict: PASS
    X-SES-Virus-Verdict: PASS
    Received-SPF: pass (spfCheck: domain of example.com designates 192.0.2.1 as permitted sender)
     client-ip=192.0.2.1; envelope-from=shop@example.com; helo=mail.example.com;
    Authentication-Results: amazonses.com;
     spf=pass (spfCheck: domain of example.com designates 192.0.2.1 as permitted sender)
     client-ip=192.0.2.1; envelope-from=shop@example.com; helo=mail.example.com;
     dkim=pass header.i=@example.com;
     dmarc=pass header.from=example.com;

Only the topmost ``Authentication-Results`` counts, and only if its authserv-id is ``amazonses.com``: SES
puts its own above everything the sender wrote, so any further one (``amazonses.com`` or not) came with
the mail and proves nothing. ``Received-SPF`` repeats the SPF result and is not read.

When the sender counts as authenticated (``authenticate``):

* ``dmarc=pass`` for exactly the From domain we read (``header.from``): SES applied the domain's own
  DMARC policy, including its alignment mode, computed on organisational domains; or
* ``spf=pass`` for an envelope sender (``envelope-from`` / ``smtp.mailfrom``), or ``dkim=pass`` for a
  signing domain (``header.d``, else the domain of ``header.i``), that is **aligned** with the From
  domain: equal to it or a subdomain of it. That is DMARC's relaxed alignment restricted to the direction
  we can decide without the Public Suffix List: whoever holds the From domain controls every name under
  it, so a pass for ``bounce.example.com`` is the owner of ``example.com`` speaking. The other relaxed
  cases (a From on a subdomain, the pass for its parent) are left to SES's DMARC verdict, which computes
  organisational domains properly; guessing them here (is ``co.uk`` an organisation?) could let a
  stranger's domain vouch for an allowed one.

``dmarc=fail`` refuses outright even when SPF or DKIM passed: the domain's own policy (say strict
alignment) disowns the mail. Anything else (``none``, ``temperror``, ``permerror``, ``neutral``,
``softfail``, ``fail``, no results at all) does not authenticate, and the mail is refused with the
results named in the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import errors
from email.message import Message

SES_AUTHSERV_ID = "amazonses.com"
METHODS = frozenset({"arc", "auth", "bimi", "dkim", "dkim-adsp", "dkim-atps", "dmarc", "domainkeys", "iprev",
                     "rrvs", "sender-id", "smime", "spf", "vbr"})
"""RFC 8601 method names (IANA registry): a ``name=value`` that is not one of them belongs to the result
before it. SES puts ``envelope-from=`` and ``helo=`` after a ``;`` of their own."""
_COMMENT = re.compile(r"\([^()]*\)")
_DOMAIN = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+")
_LOCAL_PART = re.compile(r"[^@\s\"(),:;<>\[\]\\]{1,64}")
MAX_RESULTS_CHARS = 4096
"""SES's Authentication-Results is a few hundred characters; a longer topmost one is not SES's."""


@dataclass(frozen=True)
class MailRefusal:
    """The whole email is refused: nothing in it is processed."""

    code: str
    message: str


@dataclass(frozen=True)
class Sender:
    """The one From address (lower-cased), or why there is none we can believe (``no_sender``,
    ``forged_from``)."""

    address: str | None
    domain: str | None = None
    refusal: MailRefusal | None = None


@dataclass(frozen=True)
class Result:
    """One ``method=result`` of an Authentication-Results header, with its properties."""

    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def domain(self) -> str | None:
        """The domain this result speaks for: SPF's envelope sender, DKIM's signing domain, DMARC's From."""
        names = {"spf": ("smtp.mailfrom", "envelope-from"), "dkim": ("header.d", "header.i"),
                 "dmarc": ("header.from",)}.get(self.method, ())
        for name in names:
            value = self.properties.get(name, "")
            domain = value.rpartition("@")[2].strip().rstrip(".").lower()
            if domain:
                return domain
        return None

    def __str__(self) -> str:
        return f"{self.method}={self.result}" + (f" for {self.domain}" if self.domain else "")


def read_sender(headers: Message) -> Sender:
    """The From address, when there is exactly one From header holding exactly one well-formed address.

    The parser flags what it had to guess at (``From: shop@example.com <evil@attacker.test>`` parses as
    ``shop@example.com`` with an ``InvalidHeaderDefect``): any such defect refuses the mail, since the
    address the allowlist would see is not the one a mail client shows or SES authenticated. Obsolete
    syntax (an unquoted ``.`` in a display name, ``Dr. Who <who@example.com>``) is flagged too but is
    unambiguous, and RFC 5322 section 4 says receivers must accept it: that alone is no defect here.
    """
    try:
        values = headers.get_all("From") or []
        if len(values) != 1:
            return _refused("no_sender", f"The email has {len(values)} From headers, not one.")
        header = values[0]
        defects = [d for d in header.defects if not isinstance(d, errors.ObsoleteHeaderDefect)]
        addresses = list(header.addresses)
    except (ValueError, IndexError, AttributeError, TypeError) as exc:  # what the header parser raises
        return _refused("forged_from", f"The From header could not be read ({exc}).")
    if defects:
        shown = " ".join(str(values[0]).split())[:200]
        return _refused("forged_from", f"The From header is malformed ({defects[0]}): {shown!r}.")
    if len(addresses) != 1:
        return _refused("no_sender", "The From header does not hold exactly one address.")
    local, domain = addresses[0].username, addresses[0].domain.lower()
    if not (_LOCAL_PART.fullmatch(local) and _DOMAIN.fullmatch(domain)):
        return _refused("no_sender", "The From address is not a plain address at a domain.")
    return Sender(f"{local}@{domain}".lower(), domain)


def _refused(code: str, message: str) -> Sender:
    return Sender(None, refusal=MailRefusal(code, message))


def ses_results(headers: Message) -> list[Result] | None:
    """SES's authentication results: the topmost Authentication-Results, if SES wrote it (else None)."""
    values = headers.get_all("Authentication-Results") or []
    if not values:
        return None
    text = " ".join(str(values[0]).split())
    if len(text) > MAX_RESULTS_CHARS or text.partition(";")[0].split()[:1] != [SES_AUTHSERV_ID]:
        return None  # (an RFC 8601 version may follow the authserv-id)
    while _COMMENT.search(text):  # comments may nest; innermost first
        text = _COMMENT.sub(" ", text)
    elements = text.split(";")[1:]
    results: list[Result] = []
    for token in " ".join(elements).split():
        name, equals, value = token.partition("=")
        if not equals:
            continue  # "reason" words, a stray "none"
        name, value = name.lower(), value.strip('"')
        if name.partition("/")[0] in METHODS:
            results.append(Result(name.partition("/")[0], value.lower()))
        elif results:
            results[-1].properties.setdefault(name, value)
    return results


def aligned(authenticated: str, from_domain: str) -> bool:
    """The authenticated domain is the From domain or one of its subdomains (see the module docstring)."""
    return authenticated == from_domain or authenticated.endswith(f".{from_domain}")


def authenticate(headers: Message, from_domain: str) -> MailRefusal | None:
    """None when SES's results authenticate ``from_domain``; otherwise why not (``unauthenticated``,
    ``spoofed``)."""
    results = ses_results(headers)
    if results is None:
        return MailRefusal("unauthenticated", "The email carries no authentication results from SES, so nothing "
                                              f"vouches that it comes from {from_domain}.")
    if any(r.method == "dmarc" and r.result == "fail" for r in results):
        return MailRefusal("spoofed", "The sender's domain does not vouch for this email (DMARC failed): "
                                      f"{', '.join(map(str, results))}.")
    for result in results:
        if result.result != "pass" or result.domain is None:
            continue
        if result.method == "dmarc" and result.domain == from_domain:
            return None
        if result.method in ("spf", "dkim") and aligned(result.domain, from_domain):
            return None
    shown = ", ".join(map(str, results)) or "none"
    return MailRefusal("unauthenticated", f"SES could not confirm the email comes from {from_domain} ({shown}).")
