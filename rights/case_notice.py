"""The takedown notice for one case, refused when sending it would be wrong.

Shared by ``GET /v1/cases/{id}/notice`` and ``rights cases notice``, so that both refuse the same
cases: a withdrawn work, a licensed or dismissed use (DMCA §512(f) misrepresentation).
"""

from __future__ import annotations

from typing import Any

from rights import cases
from rights.errors import BadInput, Conflict
from rights.notices import RightsHolder, build_notice
from rights.registry import Registry
from rights.text import has_controls_besides_breaks


def notice_for(
    registry: Registry,
    case: cases.Case,
    *,
    lang: str = "en",
    contact: str | None = None,
    holder_name: str | None = None,
) -> dict[str, Any]:
    """:func:`rights.notices.build_notice` for ``case``; ``Conflict`` when no notice should be sent.
    ``holder_name``: the rights holder's legal name, printed and signed with (the registry knows
    only its account name)."""
    for field, value in (("contact", contact), ("holder name", holder_name)):
        if value is not None and has_controls_besides_breaks(value):
            # Printed into the notice: a NUL or a terminal escape would travel with it.
            raise BadInput(f"{field} must not contain control characters other than line breaks and tabs")
    holder_name = " ".join(holder_name.split()) if holder_name else None  # one line: it is a signature
    work = registry.get_work(case.work_id)
    if work["status"] == "withdrawn":
        # The holder no longer claims the work in the registry: a notice would cite a withdrawn claim.
        raise Conflict(f"work {case.work_id} was withdrawn; case {case.id} has no notice", case_id=case.id)
    refusal = cases.why_no_notice(registry.db, case)
    if refusal is not None:
        raise Conflict(refusal, case_id=case.id)
    work["receipt"] = registry.receipt(case.work_id)
    holder = RightsHolder(case.creator, contact or None, holder_name or None)
    return build_notice(case, holder=holder, work=work, lang=lang)
