"""What a message says: every template, in Chinese (the default) and English.

A title names its subject (the customer, the lead, the contract number, the period) so
that the reader knows what to open. Money is shown with two places and thousands
separators, rates as percentages, times in UTC. A field an event lacks shows as "-"
rather than failing: a message with a gap is better than no message.

Pure: text from an event's data, no database, no RPC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from services.common import pii
from services.common.money import money, to_decimal
from services.common.timeutil import as_utc
from services.notify.recipients import MalformedEvent
from services.notify.schemas import EN, WEBHOOK, ZH

MISSING = "-"
TITLE_MAX = 300
QUOTE_MAX = 500

CHANNEL_DISABLED = "channel_disabled"


@dataclass(frozen=True)
class Template:
    subject_type: str
    subject_key: str
    zh: tuple[str, str]
    en: tuple[str, str]


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str
    subject_type: str
    subject_id: int | None
    language: str


_FILING_WAITING = Template(
    "filing",
    "filing_id",
    zh=(
        "客户报备待审批：{customer_name}",
        "合作伙伴（编号 {partner_id}）报备了客户「{customer_name}」（地区 {region_code}），"
        "等待您在「{step}」环节审批。",
    ),
    en=(
        "Filing awaiting your approval: {customer_name}",
        "Partner #{partner_id} filed the customer {customer_name} (region {region_code}); "
        'it waits for your approval at step "{step}".',
    ),
)

TEMPLATES: dict[tuple[str, str], Template] = {
    ("filing_submitted", ""): _FILING_WAITING,
    ("filing_step_waiting", ""): Template(
        "filing",
        "filing_id",
        zh=(
            "客户报备待审批（{step}）：{customer_name}",
            "客户「{customer_name}」的报备已通过上一环节，等待您在「{step}」环节审批。",
        ),
        en=(
            "Filing awaiting your approval ({step}): {customer_name}",
            "The filing of {customer_name} passed the previous step and waits for your "
            'approval at step "{step}".',
        ),
    ),
    ("filing_approved", ""): Template(
        "customer",
        "customer_id",
        zh=(
            "客户报备已通过：{customer_name}",
            "您报备的客户「{customer_name}」已审批通过，保护期至 {protected_until}。",
        ),
        en=(
            "Filing approved: {customer_name}",
            "Your filing of {customer_name} was approved; the customer is protected for you "
            "until {protected_until}.",
        ),
    ),
    ("filing_rejected", ""): Template(
        "customer",
        "customer_id",
        zh=(
            "客户报备被驳回：{customer_name}",
            "您报备的客户「{customer_name}」被驳回。原因：{reason}",
        ),
        en=(
            "Filing rejected: {customer_name}",
            "Your filing of {customer_name} was rejected. Reason: {reason}",
        ),
    ),
    ("lead_assigned", ""): Template(
        "lead",
        "lead_id",
        zh=(
            "新线索待申领：{lead_name}",
            "总部将线索「{lead_name}」（地区 {region_code}）分配给您，"
            "请在 {claim_deadline} 前申领或退回。",
        ),
        en=(
            "New lead to claim: {lead_name}",
            "Headquarters assigned the lead {lead_name} (region {region_code}) to you; "
            "claim or decline it before {claim_deadline}.",
        ),
    ),
    ("lead_assigned", "by_hand"): Template(
        "lead",
        "lead_id",
        zh=(
            "总部指派线索待申领：{lead_name}",
            "总部（用户 {assigned_by}）将线索「{lead_name}」（地区 {region_code}）手动分配给您，"
            "原因：{reason}。请在 {claim_deadline} 前申领或退回。",
        ),
        en=(
            "Lead assigned to you by headquarters: {lead_name}",
            "Headquarters (user {assigned_by}) assigned the lead {lead_name} (region "
            "{region_code}) to you by hand. Reason: {reason}. Claim or decline it before "
            "{claim_deadline}.",
        ),
    ),
    ("leads_assigned", ""): Template(
        "lead",
        "lead_id",
        zh=(
            "新线索待申领：{lead_name} 等 {count} 条",
            "总部导入的 {count} 条线索分配给您，第一条为「{lead_name}」，"
            "请在 {claim_deadline} 前申领或退回（各条线索的期限见线索列表）。",
        ),
        en=(
            "{count} new leads to claim, the first {lead_name}",
            "Headquarters imported {count} leads assigned to you, the first {lead_name}; "
            "claim or decline them before {claim_deadline} (each lead's deadline is in the "
            "list of leads).",
        ),
    ),
    ("lead_claim_deadline_near", ""): Template(
        "lead",
        "lead_id",
        zh=(
            "线索申领即将截止：{lead_name}",
            "线索「{lead_name}」须在 {claim_deadline} 前申领，逾期将转给其他合作伙伴。",
        ),
        en=(
            "Lead claim deadline near: {lead_name}",
            "The lead {lead_name} must be claimed before {claim_deadline}, or it passes to "
            "another partner.",
        ),
    ),
    ("lead_claim_deadlines_near", ""): Template(
        "lead",
        "lead_id",
        zh=(
            "线索申领即将截止：{lead_name} 等 {count} 条",
            "您有 {count} 条线索即将超过申领期限，最早于 {claim_deadline} 截止，其中包括"
            "「{lead_name}」；逾期未申领将转给其他合作伙伴（各条线索的期限见线索列表）。",
        ),
        en=(
            "{count} leads' claim deadlines near, the first {lead_name}",
            "{count} of your leads reach their claim deadlines, the earliest at "
            "{claim_deadline}, among them {lead_name}; unclaimed, they pass to another "
            "partner (each lead's deadline is in the list of leads).",
        ),
    ),
    ("protection_ending", ""): Template(
        "customer",
        "customer_id",
        zh=(
            "客户保护期即将结束：{customer_name}",
            "客户「{customer_name}」的保护期将于 {protected_until} 结束，之后将释放到公海。",
        ),
        en=(
            "Protection ending: {customer_name}",
            "Your protection of {customer_name} ends at {protected_until}; the customer then "
            "goes to the public pool.",
        ),
    ),
    ("customer_released", ""): Template(
        "customer",
        "customer_id",
        zh=(
            "客户已释放到公海：{customer_name}",
            "客户「{customer_name}」的保护期已结束，已释放到公海。",
        ),
        en=(
            "Customer released: {customer_name}",
            "The protection of {customer_name} has ended; the customer is now in the public pool.",
        ),
    ),
    ("customer_released", "owner"): Template(
        "customer",
        "customer_id",
        zh=(
            "客户已退回公海：{customer_name}",
            "客户「{customer_name}」已由贵方退回公海。原因：{reason}",
        ),
        en=(
            "Customer given back: {customer_name}",
            "{customer_name} was given back to the public pool. Reason: {reason}",
        ),
    ),
    ("customer_released", "idle"): Template(
        "customer",
        "customer_id",
        zh=(
            "客户因长期未跟进已释放到公海：{customer_name}",
            "客户「{customer_name}」长期没有跟进记录，已释放到公海。",
        ),
        en=(
            "Customer released for lack of follow-up: {customer_name}",
            "{customer_name} had no follow-up for too long and is now in the public pool.",
        ),
    ),
    ("customer_released", "terminated"): Template(
        "customer",
        "customer_id",
        zh=(
            "客户因合作终止已释放到公海：{customer_name}",
            "合作已终止，客户「{customer_name}」已释放到公海。原因：{reason}",
        ),
        en=(
            "Customer released at termination: {customer_name}",
            "The partnership ended; {customer_name} is now in the public pool. Reason: {reason}",
        ),
    ),
    ("partner_handover_done", ""): Template(
        "partner",
        "partner_id",
        zh=(
            "合作伙伴交接完成（编号 {partner_id}）",
            "已终止合作的合作伙伴（编号 {partner_id}）交接完成：转给其他合作伙伴的客户 "
            "{transferred} 个，释放到公海的客户 {released} 个，驳回的报备 {filings_rejected} 个，"
            "改派的线索 {leads_reassigned} 条，退回总部的线索 {leads_unassigned} 条。"
            "原因：{reason}",
        ),
        en=(
            "Handover done: partner #{partner_id}",
            "The handover of terminated partner #{partner_id} is done: {transferred} customers "
            "transferred, {released} released to the public pool, {filings_rejected} filings "
            "rejected, {leads_reassigned} leads passed to other partners and "
            "{leads_unassigned} back in the HQ queue. Reason: {reason}",
        ),
    ),
    ("customer_claimed", ""): Template(
        "customer",
        "customer_id",
        zh=(
            "已从公海领取客户：{customer_name}",
            "客户「{customer_name}」已从公海领取，保护期至 {protected_until}。",
        ),
        en=(
            "Customer claimed from the pool: {customer_name}",
            "{customer_name} was claimed from the public pool; protected until {protected_until}.",
        ),
    ),
    ("idle_release_near", ""): Template(
        "customer",
        "customer_id",
        zh=(
            "客户即将因未跟进被释放：{customer_name}",
            "客户「{customer_name}」长期没有跟进记录，将于 {release_at} 释放到公海；"
            "在此之前添加跟进记录即可保留。",
        ),
        en=(
            "No follow-up, release near: {customer_name}",
            "{customer_name} has had no follow-up and goes to the public pool at "
            "{release_at}; record a follow-up before then to keep it.",
        ),
    ),
    ("extension_requested", ""): Template(
        "extension",
        "extension_id",
        zh=(
            "延期申请待审批：{customer_name}",
            "合作伙伴（编号 {partner_id}）申请将客户「{customer_name}」的保护期延长 {days} 天"
            "（当前至 {protected_until}），原因：{reason}。等待您在「{step}」环节审批。",
        ),
        en=(
            "Extension awaiting your approval: {customer_name}",
            "Partner #{partner_id} asks for {days} more days of protection of "
            "{customer_name} (now until {protected_until}). Reason: {reason}. It waits for "
            'your approval at step "{step}".',
        ),
    ),
    ("extension_step_waiting", ""): Template(
        "extension",
        "extension_id",
        zh=(
            "延期申请待审批（{step}）：{customer_name}",
            "客户「{customer_name}」延长保护期 {days} 天的申请已通过上一环节，"
            "等待您在「{step}」环节审批。",
        ),
        en=(
            "Extension awaiting your approval ({step}): {customer_name}",
            "The request for {days} more days of protection of {customer_name} passed the "
            'previous step and waits for your approval at step "{step}".',
        ),
    ),
    ("extension_approved", ""): Template(
        "customer",
        "customer_id",
        zh=(
            "延期申请已通过：{customer_name}",
            "您为客户「{customer_name}」提交的延期申请（{days} 天）已审批通过，"
            "保护期至 {protected_until}。",
        ),
        en=(
            "Extension approved: {customer_name}",
            "Your request for {days} more days of protection of {customer_name} was "
            "approved; the customer is protected for you until {protected_until}.",
        ),
    ),
    ("extension_rejected", ""): Template(
        "customer",
        "customer_id",
        zh=(
            "延期申请被驳回：{customer_name}",
            "您为客户「{customer_name}」提交的延期申请（{days} 天）被驳回，"
            "保护期不变（至 {protected_until}）。原因：{reason}",
        ),
        en=(
            "Extension rejected: {customer_name}",
            "Your request for {days} more days of protection of {customer_name} was "
            "rejected; the protection still ends at {protected_until}. Reason: {reason}",
        ),
    ),
    ("customer_transferred", "in"): Template(
        "customer",
        "customer_id",
        zh=(
            "客户已转入：{customer_name}",
            "总部将客户「{customer_name}」转给您，保护期至 {protected_until}。原因：{reason}",
        ),
        en=(
            "Customer transferred to you: {customer_name}",
            "Headquarters transferred {customer_name} to you; protected until "
            "{protected_until}. Reason: {reason}",
        ),
    ),
    ("customer_transferred", "out"): Template(
        "customer",
        "customer_id",
        zh=(
            "客户已转出：{customer_name}",
            "总部将客户「{customer_name}」转给了其他合作伙伴。原因：{reason}",
        ),
        en=(
            "Customer transferred away: {customer_name}",
            "Headquarters transferred {customer_name} to another partner. Reason: {reason}",
        ),
    ),
    ("order_step_waiting", ""): Template(
        "order",
        "order_id",
        zh=(
            "订单待审批：合同 {contract_no}（{customer_name}）",
            "合同 {contract_no}，客户「{customer_name}」，金额 ¥{total_amount}，"
            "等待您在「{step}」环节审批。",
        ),
        en=(
            "Order awaiting your approval: contract {contract_no} ({customer_name})",
            "Contract {contract_no} for {customer_name}, CNY {total_amount}, waits for your "
            'approval at step "{step}".',
        ),
    ),
    ("order_approved", ""): Template(
        "order",
        "order_id",
        zh=(
            "订单已审批通过：合同 {contract_no}",
            "合同 {contract_no}（客户「{customer_name}」，金额 ¥{total_amount}）已审批通过。",
        ),
        en=(
            "Order approved: contract {contract_no}",
            "Contract {contract_no} ({customer_name}, CNY {total_amount}) was approved.",
        ),
    ),
    ("order_rejected", ""): Template(
        "order",
        "order_id",
        zh=(
            "订单被驳回：合同 {contract_no}",
            "合同 {contract_no}（客户「{customer_name}」）被驳回，可修改后重新提交。"
            "意见：{comment}",
        ),
        en=(
            "Order rejected: contract {contract_no}",
            "Contract {contract_no} ({customer_name}) was rejected; you may revise it and "
            "submit it again. Comment: {comment}",
        ),
    ),
    ("order_commented", ""): Template(
        "order",
        "order_id",
        zh=("订单有新评论：合同 {contract_no}", "合同 {contract_no} 有新评论：{body}"),
        en=(
            "New comment on contract {contract_no}",
            "New comment on contract {contract_no}: {body}",
        ),
    ),
    ("commission_entry_created", ""): Template(
        "commission_entry",
        "entry_id",
        zh=(
            "新提成记录：合同 {contract_no}",
            "合同 {contract_no} 的提成已入账：合同金额 ¥{contract_amount}，提成比例 {rate}，"
            "提成金额 ¥{amount}，期间 {period}。",
        ),
        en=(
            "Commission recorded: contract {contract_no}",
            "Commission for contract {contract_no}: contract amount CNY {contract_amount}, "
            "rate {rate}, commission CNY {amount}, period {period}.",
        ),
    ),
    ("commission_entry_created", "reversal"): Template(
        "commission_entry",
        "entry_id",
        zh=(
            "提成冲销：合同 {contract_no}",
            "合同 {contract_no} 已取消，提成冲销 ¥{amount}，期间 {period}。",
        ),
        en=(
            "Commission reversed: contract {contract_no}",
            "Contract {contract_no} was cancelled; commission of CNY {amount} reversed in "
            "period {period}.",
        ),
    ),
    # Commission on collection (回款提成): an entry of a receipt, and the reversal of a
    # refund; the contract amount is then the payment's.
    ("commission_entry_created", "collected"): Template(
        "commission_entry",
        "entry_id",
        zh=(
            "回款提成入账：合同 {contract_no}",
            "合同 {contract_no} 回款 ¥{contract_amount}，提成比例 {rate}，"
            "提成金额 ¥{amount}，期间 {period}。",
        ),
        en=(
            "Commission on collection: contract {contract_no}",
            "Contract {contract_no} received CNY {contract_amount}: rate {rate}, "
            "commission CNY {amount}, period {period}.",
        ),
    ),
    ("commission_entry_created", "refunded"): Template(
        "commission_entry",
        "entry_id",
        zh=(
            "退款提成冲销：合同 {contract_no}",
            "合同 {contract_no} 有退款，提成冲销 ¥{amount}，期间 {period}。",
        ),
        en=(
            "Commission reversed for a refund: contract {contract_no}",
            "Contract {contract_no} had a refund; commission of CNY {amount} reversed in "
            "period {period}.",
        ),
    ),
    # Payment reminders (回款提醒): to the partner, and to HQ finance ("hq").
    ("payment_due_soon", ""): Template(
        "order",
        "order_id",
        zh=(
            "回款即将到期：合同 {contract_no}",
            "合同 {contract_no}（客户「{customer_name}」）第 {position} 期回款将于 {due_date} "
            "到期，尚未支付 ¥{unpaid_amount}（该期 ¥{installment_amount}）。",
        ),
        en=(
            "Payment due soon: contract {contract_no}",
            "Installment {position} of contract {contract_no} ({customer_name}) is due on "
            "{due_date}; CNY {unpaid_amount} of CNY {installment_amount} is still unpaid.",
        ),
    ),
    ("payment_due_soon", "hq"): Template(
        "order",
        "order_id",
        zh=(
            "回款即将到期：合同 {contract_no}",
            "合作伙伴（编号 {partner_id}）的合同 {contract_no}（客户「{customer_name}」）"
            "第 {position} 期回款将于 {due_date} 到期，尚未收到 ¥{unpaid_amount}"
            "（该期 ¥{installment_amount}）。",
        ),
        en=(
            "Payment due soon: contract {contract_no}",
            "Installment {position} of partner #{partner_id}'s contract {contract_no} "
            "({customer_name}) is due on {due_date}; CNY {unpaid_amount} of CNY "
            "{installment_amount} is not received yet.",
        ),
    ),
    ("payment_overdue", ""): Template(
        "order",
        "order_id",
        zh=(
            "回款已逾期：合同 {contract_no}",
            "合同 {contract_no}（客户「{customer_name}」）第 {position} 期回款已于 {due_date} "
            "到期，逾期 {days_overdue} 天，尚未支付 ¥{unpaid_amount}"
            "（该期 ¥{installment_amount}）。",
        ),
        en=(
            "Payment overdue: contract {contract_no}",
            "Installment {position} of contract {contract_no} ({customer_name}) was due on "
            "{due_date}, {days_overdue} days ago; CNY {unpaid_amount} of CNY "
            "{installment_amount} is still unpaid.",
        ),
    ),
    ("payment_overdue", "hq"): Template(
        "order",
        "order_id",
        zh=(
            "回款已逾期：合同 {contract_no}",
            "合作伙伴（编号 {partner_id}）的合同 {contract_no}（客户「{customer_name}」）"
            "第 {position} 期回款已于 {due_date} 到期，逾期 {days_overdue} 天，尚未收到 "
            "¥{unpaid_amount}（该期 ¥{installment_amount}）。",
        ),
        en=(
            "Payment overdue: contract {contract_no}",
            "Installment {position} of partner #{partner_id}'s contract {contract_no} "
            "({customer_name}) was due on {due_date}, {days_overdue} days ago; CNY "
            "{unpaid_amount} of CNY {installment_amount} is not received yet.",
        ),
    ),
    ("statement_issued", ""): Template(
        "statement",
        "statement_id",
        zh=(
            "结算单待确认：{period}",
            "总部已出具 {period} 的提成结算单：共 {entry_count} 条，合计 ¥{total_amount}，"
            "请核对并确认。",
        ),
        en=(
            "Statement to confirm: {period}",
            "Headquarters issued the commission statement for {period}: {entry_count} "
            "entries, CNY {total_amount} in total. Please check and confirm it.",
        ),
    ),
    (CHANNEL_DISABLED, ""): Template(
        "notification_channel",
        "channel_id",
        zh=(
            "通知渠道已停用：{target}",
            "通知渠道 {target} 连续 {failures} 次发送失败，已停用。最后的错误：{error}。"
            "修正后可重新启用。",
        ),
        en=(
            "Notification channel disabled: {target}",
            "The channel {target} failed {failures} times in a row and was disabled. "
            "Last error: {error}. Re-enable it once it is fixed.",
        ),
    ),
}

_MONEY_FIELDS = (
    "total_amount",
    "contract_amount",
    "amount",
    "installment_amount",
    "unpaid_amount",
)
_TIME_FIELDS = ("protected_until", "claim_deadline", "approved_at", "release_at")


def language_of(value: str | None) -> str:
    """English for users who chose it; Chinese otherwise."""
    return EN if value == EN else ZH


def format_money(value: Any) -> str:
    """``"1234567.5"`` -> ``"1,234,567.50"``; not a number -> shown as given."""
    if value is None or value == "":
        return MISSING
    try:
        return f"{money(str(value)):,.2f}"
    except (TypeError, ValueError):
        return str(value)


def format_percent(value: Any) -> str:
    """``"0.08"`` -> ``"8%"``, ``"0.085"`` -> ``"8.5%"``."""
    if value is None or value == "":
        return MISSING
    try:
        percent = (to_decimal(str(value)) * 100).normalize()
    except (TypeError, ValueError):
        return str(value)
    return f"{percent:f}%"


def format_time(value: Any) -> str:
    """An ISO 8601 instant as ``2026-05-01 08:00 UTC``."""
    if not value:
        return MISSING
    try:
        moment = as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        return str(value)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def describe_target(kind: str, target: str) -> str:
    """A channel's target as shown in messages: a webhook without its query (robot keys
    travel there), an e-mail address masked (``w***@example.com``: a title is not sealed)."""
    if kind != WEBHOOK:
        return pii.mask_email(target) or ""
    parts = urlsplit(target)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _quote(value: Any) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= QUOTE_MAX else text[: QUOTE_MAX - 1] + "…"


class _Facts(dict):
    def __missing__(self, key: str) -> str:
        return MISSING


def facts(data: dict[str, Any]) -> _Facts:
    """The event's fields as the templates show them."""
    shown = _Facts()
    for key, value in data.items():
        if value is None or value == "":
            continue
        if isinstance(value, Decimal) or key in _MONEY_FIELDS:
            shown[key] = format_money(value)
        elif key == "rate":
            shown[key] = format_percent(value)
        elif key in _TIME_FIELDS:
            shown[key] = format_time(value)
        elif key == "step" and isinstance(value, dict):
            shown[key] = _quote(value.get("name") or MISSING)
        elif isinstance(value, (str, int)) and not isinstance(value, bool):
            shown[key] = _quote(value)
    return shown


def render(kind: str, data: dict[str, Any], language: str, variant: str = "") -> Rendered:
    """The message for an event of ``kind`` in ``language`` (KeyError for an unknown kind).

    Every message is about something the reader can open: an event whose subject is not
    an id is malformed (parked for an operator, never shown as a message about nothing)."""
    template = TEMPLATES[(kind, variant)]
    subject_id = data.get(template.subject_key)
    if not isinstance(subject_id, int) or isinstance(subject_id, bool) or subject_id < 1:
        raise MalformedEvent(f"{template.subject_key} is missing or not an id")
    language = language_of(language)
    title, body = template.en if language == EN else template.zh
    shown = facts(data)
    return Rendered(
        title=title.format_map(shown)[:TITLE_MAX],
        body=body.format_map(shown),
        subject_type=template.subject_type,
        subject_id=subject_id,
        language=language,
    )
