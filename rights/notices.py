"""Takedown notices drafted from a case, in English or Chinese, as Markdown, HTML or JSON.

One notice is built as data (:func:`build_notice`) and then rendered, so the three formats and two
languages can never disagree about the facts. The content follows the two laws marketplaces most
often ask for:

- US 17 U.S.C. §512(c)(3)(A): (i) signature of an authorised person, (ii) the work, (iii) the
  infringing material and where to find it, (iv) the complainant's contact details, (v) good-faith
  statement, (vi) accuracy statement and authority, under penalty of perjury.
- PRC 《信息网络传播权保护条例》 Art. 14: (1) the rights holder's name, contact details and address,
  (2) the name and network address of the infringing work, (3) preliminary proof of infringement;
  the rights holder answers for the truth of the notice.

The registry's transparency-log index and receipt are included as proof of prior registration. The
text is a draft for the rights holder to check and sign, and says so.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rights.cases import Case
from rights.errors import BadInput
from rights.evidence import boxed_thumbnail, data_uri
from rights.text import shown_controls

__all__ = ["FORMATS", "LANGUAGES", "RightsHolder", "build_notice", "render_notice"]

FORMATS = ("md", "html", "json")
LANGUAGES = ("en", "zh")
MEDIA_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "json": "application/json",
}


@dataclass(frozen=True)
class RightsHolder:
    account: str  # the registry account that registered the work (a handle, not a legal name)
    contact: str | None = None  # e-mail, phone and postal address as the holder wants them shown
    # The person's or company's legal name: a login handle is neither the name Art. 14 (1) asks for
    # nor a signature under §512(c)(3)(A)(i), so without it both are left for the holder to fill in.
    legal_name: str | None = None


_MISSING = {"en": "[to be completed by the rights holder]", "zh": "【由权利人填写】"}
_UNSIGNED = {"en": "[to be signed by the rights holder]", "zh": "【由权利人签名或盖章】"}
# A notice locates the material by its network address: only web addresses are printed as one.
_WEB_ADDRESS = re.compile(r"https?://", re.IGNORECASE)

_TEXT: dict[str, dict[str, Any]] = {
    "en": {
        "title": "Notice of copyright infringement (takedown request)",
        "draft": "Draft generated from case {case_id}. Check every statement before signing and sending.",
        "to": "To: the designated copyright agent of {platform}",
        "holder": "1. Rights holder",
        "name": "Name",
        "account": "Registry account",
        "contact": "Contact details and address",
        "work": "2. Copyrighted work",
        "work_title": "Title",
        "work_id": "Registry work ID",
        "registered": "Registered at",
        "sha256": "SHA-256 of the registered original",
        "log_index": "Transparency log index",
        "receipt": "Log receipt",
        "receipt_summary": (
            "tree size {tree_size}, root hash {root_hash}, signed checkpoint of {timestamp}, key {key_id}"
            " (the full receipt is in the JSON notice; rights log verify-receipt checks it offline"
            " against the registry's public key)"
        ),
        "listing": "3. Infringing material (remove or disable access)",
        "listing_title": "Listing title",
        "listing_url": "Listing URL",
        "image_url": "Image URL (the copy itself)",
        "listing_id": "Listing ID",
        "seller": "Seller",
        "image": "Image",
        "evidence": "4. Preliminary evidence",
        "score": "Similarity score (0-1, automated)",
        "kind": "Kind of copy",
        "kinds": {
            "exact": "exact copy (the same file)",
            "near": "near-duplicate of the whole work",
            "partial": "partial copy (the work appears within the listing image)",
        },
        "detected": "First detected",
        "region": "Region of the listing image showing the work (x, y, width, height in pixels)",
        "region_of": " of {width} x {height}",
        "side_by_side": "Listing image (left, matched region boxed) and registered work (right)",
        "statements": "5. Statements",
        "good_faith": (
            "I have a good faith belief that use of the material in the manner complained of is not "
            "authorized by the copyright owner, its agent, or the law."
        ),
        "accuracy": (
            "The information in this notification is accurate, and under penalty of perjury, I am the "
            "owner, or authorized to act on behalf of the owner, of an exclusive right that is allegedly "
            "infringed."
        ),
        "truth": "The rights holder takes responsibility for the truthfulness of this notice.",
        "signature": "6. Signature",
        "signed": "Electronic signature",
        "date": "Date",
        "legal": "Legal bases",
        "dmca": "17 U.S.C. §512(c)(3)(A)",
        "prc": (
            "Regulations on the Protection of the Right to Network Dissemination of Information"
            " (PRC), Art. 14"
        ),
    },
    "zh": {
        "title": "侵权通知书（要求删除或断开链接）",
        "draft": "本通知书由案件 {case_id} 自动生成草稿，签署和发送前请逐项核对。",
        "to": "致：{platform}（网络服务提供者）知识产权投诉受理人",
        "holder": "一、权利人",
        "name": "姓名（名称）",
        "account": "登记账户",
        "contact": "联系方式和地址",
        "work": "二、被侵权作品",
        "work_title": "作品名称",
        "work_id": "登记作品编号",
        "registered": "登记时间",
        "sha256": "登记原件 SHA-256",
        "log_index": "透明日志序号",
        "receipt": "日志回执",
        "receipt_summary": (
            "树大小 {tree_size}，根哈希 {root_hash}，签名检查点时间 {timestamp}，密钥 {key_id}"
            "（完整回执见 JSON 格式通知书；可用 rights log verify-receipt 以登记处公钥离线验证）"
        ),
        "listing": "三、要求删除或者断开链接的侵权内容",
        "listing_title": "商品标题",
        "listing_url": "网络地址",
        "image_url": "侵权图片网络地址",
        "listing_id": "商品编号",
        "seller": "卖家",
        "image": "图片",
        "evidence": "四、构成侵权的初步证明材料",
        "score": "相似度评分（0-1，自动计算）",
        "kind": "复制类型",
        "kinds": {
            "exact": "完全相同（同一文件）",
            "near": "近似复制（整幅作品）",
            "partial": "局部使用（作品出现在商品图片中）",
        },
        "detected": "首次发现时间",
        "region": "商品图片中出现作品的区域（x，y，宽，高，单位为像素）",
        "region_of": "（图片尺寸 {width} × {height}）",
        "side_by_side": "商品图片（左，红框为匹配区域）与登记作品（右）对比",
        "statements": "五、声明",
        "good_faith": "本人善意相信，以所投诉的方式使用上述内容，未经著作权人、其代理人或法律的许可。",
        # §512(c)(3)(A)(vi), cited below, asks for the authority statement under penalty of perjury.
        "accuracy": (
            "本人保证本通知书中的信息准确无误，如有不实，愿依美国法律承担伪证责任（under penalty of"
            " perjury）；本人是被指控受侵害的专有权利的权利人，或经其授权代表权利人行事。"
        ),
        "truth": "权利人对本通知书的真实性负责。",
        "signature": "六、签名",
        "signed": "签名（盖章）",
        "date": "日期",
        "legal": "法律依据",
        "dmca": "美国《数字千年版权法》17 U.S.C. §512(c)(3)(A)",
        "prc": "《信息网络传播权保护条例》第十四条",
    },
}


def build_notice(
    case: Case, *, holder: RightsHolder, work: dict[str, Any], lang: str = "en", date: str | None = None
) -> dict[str, Any]:
    """The notice as structured data (the ``json`` format); ``work`` is the contract's work object.

    What the registry does not know (the holder's legal name and contact details, the listing's web
    address) is null and named in ``missing``: the Markdown and HTML print a placeholder there, for
    the holder to complete before signing."""
    if lang not in LANGUAGES:
        raise BadInput(f"unknown notice language {lang!r}; one of {', '.join(LANGUAGES)}")
    evidence = case.evidence
    query_thumb = evidence.get("query_thumb")
    boxed = (
        boxed_thumbnail(query_thumb, evidence.get("region"), evidence.get("query_size"))
        if query_thumb
        else None
    )
    listing_url = _web_address(case.listing_url)
    # A web address without its scheme ("www.shop.example/item/1", as many feeds write them) is still
    # the holder's best lead: shown as text, never a link (it was dropped as missing: an audit). Any
    # other scheme ("javascript:") stays out.
    address = None if listing_url else _schemeless_web_address(case.listing_url)
    listing_title = _given(case.listing_title)
    notice: dict[str, Any] = {
        "type": "takedown_notice",
        "language": lang,
        "draft": True,
        "case_id": case.id,
        "case_status": case.status,
        "date": date or datetime.now(UTC).date().isoformat(),
        "legal_bases": {"dmca": "17 U.S.C. §512(c)(3)(A)", "prc": "信息网络传播权保护条例 第十四条"},
        "recipient": {"platform": case.platform},
        "rights_holder": {"name": holder.legal_name, "account": holder.account, "contact": holder.contact},
        "work": {
            "work_id": str(work.get("work_id", case.work_id)),
            "title": work.get("title") or case.work_title,
            "registered_at": work.get("registered_at"),
            "sha256": work.get("sha256"),
            "log_index": work.get("log_index"),
            "receipt": work.get("receipt"),
        },
        "infringing_material": {
            "platform": case.platform,
            "listing_id": case.listing_id,
            "title": listing_title,
            "url": listing_url,
            "address": address,
            "seller": case.seller,
            # The copy's own address; a feed's local file path is the scanner's business, not the platform's.
            "image_url": _web_address(case.image),
        },
        "evidence": {
            "score": round(case.score, 4),
            "kind": case.kind,
            "first_detected_at": case.created_at,
            "region": evidence.get("region"),
            "image_size": evidence.get("query_size"),
            "query_image_jpeg_base64": boxed,
            "work_image_jpeg_base64": evidence.get("work_thumb"),
        },
        "statements": {
            "good_faith": _TEXT[lang]["good_faith"],
            "accuracy_and_authority": _TEXT[lang]["accuracy"],
            "responsibility": _TEXT[lang]["truth"],
        },
        "signature": {
            "name": holder.legal_name,
            "electronic": f"/{holder.legal_name}/" if holder.legal_name else None,
        },
    }
    notice["missing"] = [
        field
        for field, value in (
            ("rights_holder.name", holder.legal_name),
            ("rights_holder.contact", holder.contact),
            # The name and the network address of the material (PRC Art. 14 (2); a listing with no
            # title left the row out and said nothing: an audit).
            ("infringing_material.title", listing_title),
            ("infringing_material.url", listing_url or address),
            ("signature", holder.legal_name),
        )
        if not value
    ]
    return notice


def _web_address(value: str | None) -> str | None:
    return value if value and _WEB_ADDRESS.match(value) else None


# A host with a dot, then a path: "x.jpg" alone is a file name as often as a host.
_SCHEMELESS = re.compile(r"(?:[a-z0-9-]+\.)+[a-z]{2,}(?::\d+)?[/?#]", re.IGNORECASE)


def _schemeless_web_address(value: str | None) -> str | None:
    return value if value and _SCHEMELESS.match(value) else None


def _given(value: str | None) -> str | None:
    """``value`` unless it is empty or only spaces, which say nothing."""
    return value if value and value.strip() else None


def render_notice(notice: dict[str, Any], fmt: str) -> str:
    """Render :func:`build_notice`'s data as ``md``, ``html`` or ``json``."""
    if fmt == "json":
        return json.dumps(notice, ensure_ascii=False, indent=2)
    if fmt == "md":
        return _markdown(notice)
    if fmt == "html":
        return _html(notice)
    raise BadInput(f"unknown notice format {fmt!r}; one of {', '.join(FORMATS)}")


def _sections(n: dict[str, Any]) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Label/value rows per section, shared by Markdown and HTML; a missing value gets a placeholder."""
    t = _TEXT[n["language"]]
    missing = _MISSING[n["language"]]
    holder, w, m, e = n["rights_holder"], n["work"], n["infringing_material"], n["evidence"]
    region = e.get("region")
    size = e.get("image_size")
    region_text = ", ".join(str(v) for v in region) if region else None
    if region_text and size:
        region_text += t["region_of"].format(width=size[0], height=size[1])
    return [
        (
            t["holder"],
            [
                (t["name"], holder.get("name") or missing),
                (t["account"], holder.get("account")),
                (t["contact"], holder.get("contact") or missing),
            ],
        ),
        (
            t["work"],
            [
                (t["work_title"], w.get("title")),
                (t["work_id"], w.get("work_id")),
                (t["registered"], w.get("registered_at")),
                (t["sha256"], w.get("sha256")),
                (t["log_index"], w.get("log_index")),
                (t["receipt"], _receipt_summary(w.get("receipt"), t)),
            ],
        ),
        (
            t["listing"],
            [
                (t["listing_title"], m.get("title") or missing),
                (t["listing_url"], m.get("url") or m.get("address") or missing),
                # The copy's own address: a notice must locate the material, and a feed may give no page URL.
                (t["image_url"], m.get("image_url")),
                (t["listing_id"], f"{m['platform']} / {m['listing_id']}"),
                (t["seller"], m.get("seller")),
            ],
        ),
        (
            t["evidence"],
            [
                (t["score"], f"{e['score']:.3f}"),
                (t["kind"], t["kinds"].get(e.get("kind") or "", e.get("kind"))),
                (t["detected"], e.get("first_detected_at")),
                (t["region"], region_text),
            ],
        ),
    ]


def _receipt_summary(receipt: Any, t: dict[str, Any]) -> str | None:
    """What a reader can check in a receipt, in one line; the whole of it travels in the JSON."""
    if not isinstance(receipt, dict):
        return None if receipt is None else str(receipt)
    checkpoint = receipt.get("checkpoint") or {}
    return str(t["receipt_summary"]).format(
        tree_size=checkpoint.get("tree_size", receipt.get("tree_size", "?")),
        root_hash=checkpoint.get("root_hash", "?"),
        timestamp=checkpoint.get("timestamp", "?"),
        key_id=checkpoint.get("key_id", "?"),
    )


def _signature(n: dict[str, Any]) -> str:
    return n["signature"]["electronic"] or _UNSIGNED[n["language"]]


# Chinese text takes full-width punctuation; the HTML page names its script too.
_COLON = {"en": ": ", "zh": "："}
_SEMICOLON = {"en": "; ", "zh": "；"}
_HTML_LANG = {"en": "en", "zh": "zh-CN"}


def _markdown(n: dict[str, Any]) -> str:
    lang = n["language"]
    t, colon = _TEXT[lang], _COLON[lang]
    out = [f"# {t['title']}", "", f"> {t['draft'].format(case_id=n['case_id'])}", ""]
    out += [
        t["to"].format(platform=_md(n["recipient"]["platform"])),
        "",
        f"{t['date']}{colon}{n['date']}",
        "",
    ]
    for heading, rows in _sections(n):
        out += [f"## {heading}", ""]
        out += [
            f"- **{label}**{colon}{_md_lines(value) if label == t['contact'] else _md_value(value)}"
            for label, value in rows
            if value not in (None, "")
        ]
        out.append("")
    e = n["evidence"]
    if e.get("query_image_jpeg_base64") and e.get("work_image_jpeg_base64"):
        out += [
            f"{t['side_by_side']}{colon.rstrip()}",
            "",
            f"![listing]({data_uri(e['query_image_jpeg_base64'])}) "
            f"![work]({data_uri(e['work_image_jpeg_base64'])})",
            "",
        ]
    out += [f"## {t['statements']}", ""]
    out += [f"- {v}" for v in n["statements"].values()]
    out += ["", f"## {t['signature']}", "", f"{t['signed']}{colon}{_md_value(_signature(n))}", ""]
    legal = f"{t['dmca']}{_SEMICOLON[lang]}{t['prc']}"
    out += [f"{t['date']}{colon}{n['date']}", "", f"*{t['legal']}{colon}{legal}*", ""]
    return "\n".join(out)


def _html(n: dict[str, Any]) -> str:
    lang = n["language"]
    t, colon = _TEXT[lang], _COLON[lang]

    def esc(value: str) -> str:
        return shown_controls(html.escape(value))

    parts = [
        "<!doctype html>",
        f'<html lang="{_HTML_LANG[lang]}"><head><meta charset="utf-8">',
        f"<title>{esc(t['title'])}</title>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}"
        "dt{font-weight:600}dd{margin:0 0 .5rem 0;word-break:break-all;white-space:pre-line}"
        ".draft{background:#fff4d6;padding:.5rem}"
        ".pair{display:flex;gap:1rem}.pair img{max-width:48%;border:1px solid #ccc}</style></head><body>",
        f"<h1>{esc(t['title'])}</h1>",
        f'<p class="draft">{esc(t["draft"].format(case_id=n["case_id"]))}</p>',
        f"<p>{esc(t['to'].format(platform=n['recipient']['platform']))}</p>",
        f"<p>{esc(t['date'])}{colon}{esc(n['date'])}</p>",
    ]
    for heading, rows in _sections(n):
        parts.append(f"<h2>{esc(heading)}</h2><dl>")
        for label, value in rows:
            if value in (None, ""):
                continue
            text = esc(str(value))
            if label in (t["listing_url"], t["image_url"]) and _linkable(str(value)):
                text = f'<a href="{html.escape(str(value))}">{text}</a>'
            parts.append(f"<dt>{esc(label)}</dt><dd>{text}</dd>")
        parts.append("</dl>")
    e = n["evidence"]
    if e.get("query_image_jpeg_base64") and e.get("work_image_jpeg_base64"):
        parts += [
            f"<p>{esc(t['side_by_side'])}</p>",
            f'<div class="pair"><img alt="listing" src="{data_uri(e["query_image_jpeg_base64"])}">'
            f'<img alt="work" src="{data_uri(e["work_image_jpeg_base64"])}"></div>',
        ]
    parts.append(f"<h2>{esc(t['statements'])}</h2><ul>")
    parts += [f"<li>{esc(v)}</li>" for v in n["statements"].values()]
    legal = f"{t['dmca']}{_SEMICOLON[lang]}{t['prc']}"
    parts += [
        "</ul>",
        f"<h2>{esc(t['signature'])}</h2>",
        f"<p>{esc(t['signed'])}{colon}{esc(_signature(n))}<br>",
        f"{esc(t['date'])}{colon}{esc(n['date'])}</p>",
        f"<p><small>{esc(t['legal'])}{colon}{esc(legal)}</small></p>",
        "</body></html>",
    ]
    return "\n".join(parts)


# What makes Markdown of a value written after "**label**: ": emphasis, code, links and images (their
# brackets), HTML and its entities ("A&amp;B" showed as "A&B"), strike-through ("~~"). A value
# never starts a line, so "#", "+" and "|" stay as typed, and "(" ")" and "!" do nothing without "[".
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&~])")


def _md_value(value: Any) -> str:
    """A value as Markdown text; the notice's own placeholders as they are, to be seen and replaced."""
    return value if value in _PLACEHOLDERS else _md(value)


_PLACEHOLDERS = frozenset(_MISSING.values()) | frozenset(_UNSIGNED.values())


def _md_lines(value: Any) -> str:
    """The holder's contact details keep their lines (a postal address runs over several): each line
    as Markdown text, joined by hard breaks that stay inside the list item."""
    if value in _PLACEHOLDERS:
        return str(value)
    return "  \n  ".join(_md(line) for line in str(value).splitlines() if line.strip())


def _md(value: Any) -> str:
    """Listing data is written by strangers: neutralise Markdown syntax, line breaks and
    bidirectional controls."""
    return shown_controls(_MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split())))


def _linkable(value: str) -> bool:
    """Whether a listing address may be a link: an http(s) URL with no control or bidirectional
    character, which the link text shows as an escape and the target would then not be (an audit)."""
    return bool(_WEB_ADDRESS.match(value)) and shown_controls(value) == value
