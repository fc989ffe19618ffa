"""The takedown notice for one case, refused when sending it would be wrong.

Shared by ``GET /v1/cases/{id}/notice`` and ``rights cases notice``, so that both refuse the same
cases: a withdrawn work, a licensed or dismissed use (DMCA §512(f) misrepresentation), and both fill
in the holder's legal name and contact details from the same stored profile.
"""

from __future__ import annotations

from typing import Any

from rights import cases
from rights.errors import Conflict
from rights.notices import RightsHolder, build_notice
from rights.profiles import clean_contact, clean_legal_name, stored_profile
from rights.registry import Registry


def notice_for(
    registry: Registry,
    case: cases.Case,
    *,
    lang: str = "en",
    contact: str | None = None,
    holder_name: str | None = None,
) -> dict[str, Any]:
    """:func:`rights.notices.build_notice` for ``case``; ``Conflict`` when no notice should be sent.
    ``holder_name`` (the rights holder's legal name, printed and signed with) and ``contact`` default
    to the case creator's stored profile (:mod:`rights.profiles`); the registry itself knows only
    the account name."""
    # Checked as a stored profile is: a NUL or a terminal escape would travel with the notice.
    contact = clean_contact(contact)
    holder_name = clean_legal_name(holder_name, "holder name")
    work = registry.get_work(case.work_id)
    if work["status"] == "withdrawn":
        # The holder no longer claims the work in the registry: a notice would cite a withdrawn claim.
        raise Conflict(f"work {case.work_id} was withdrawn; case {case.id} has no notice", case_id=case.id)
    refusal = cases.why_no_notice(registry.db, case)
    if refusal is not None:
        raise Conflict(refusal, case_id=case.id)
    work["receipt"] = registry.receipt(case.work_id)
    stored = stored_profile(registry.db, case.creator)
    holder = RightsHolder(case.creator, contact or stored.contact, holder_name or stored.legal_name)
    return build_notice(case, holder=holder, work=work, lang=lang)
