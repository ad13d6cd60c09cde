"""The fixed permission catalogue, the seeded roles and partner types (reference data)."""

from __future__ import annotations

from dataclasses import dataclass

HQ = "hq"
PARTNER = "partner"
#: Personal data unmasked (``services.common.pii.REVEAL``).
REVEAL = "customer.pii.reveal"
#: The built-in roles that hold ``REVEAL`` (partners migration 0008 gives it to them where
#: they existed before it): HQ's admin and channel managers, partners' admins and sales.
#: Marketing, sales operations, finance and the channel director see personal data masked.
REVEALING_ROLES = ("hq_admin", "channel_manager", "partner_admin", "partner_sales")


@dataclass(frozen=True)
class Permission:
    code: str
    name: str
    scopes: tuple[str, ...]  # which kinds of role may hold it


PERMISSIONS: tuple[Permission, ...] = (
    Permission("partner.manage", "管理合作伙伴", (HQ,)),
    Permission("user.manage", "管理用户", (HQ, PARTNER)),
    Permission("role.manage", "管理角色", (HQ,)),
    Permission("customer.create", "报备客户", (PARTNER,)),
    Permission("customer.transfer", "转移客户", (HQ,)),
    # Answers show contacts' names, phones, e-mails and street addresses unmasked, and
    # POST /customers/{id}/reveal answers one customer's (audited). Always within the
    # caller's scope: a partner's own customers and leads only.
    Permission("customer.pii.reveal", "查看客户联系方式", (HQ, PARTNER)),
    Permission("filing.approve", "审批报备", (HQ,)),
    # Deciding the owners' requests for more protection days (延期申请).
    Permission("extension.approve", "审批延期申请", (HQ,)),
    Permission("lead.create", "录入线索", (HQ,)),
    Permission("lead.claim", "申领线索", (PARTNER,)),
    # HQ hands a lead to a partner covering its region by hand (POST /leads/{id}/assign).
    Permission("lead.assign", "分配线索", (HQ,)),
    # The public pool (公海): seeing released customers and claiming them.
    Permission("pool.claim", "公海领取客户", (PARTNER,)),
    Permission("product.manage", "管理产品", (HQ,)),
    Permission("order.create", "创建订单", (PARTNER,)),
    Permission("order.approve.sales", "订单审批（销售运营）", (HQ,)),
    Permission("order.approve.finance", "订单审批（财务）", (HQ,)),
    Permission("order.approve.director", "订单审批（渠道总监）", (HQ,)),
    Permission("order.fulfil", "确认订单交付", (HQ,)),
    Permission("order.cancel", "取消已审批订单", (HQ,)),
    # Payments received (回款): recording receipts and refunds; setting payment plans and
    # partners' credit limits.
    Permission("payment.record", "登记回款", (HQ,)),
    Permission("payment.manage", "管理回款计划和信用额度", (HQ,)),
    Permission("flow.manage", "配置审批流程", (HQ,)),
    Permission("report.read", "查看报表", (HQ, PARTNER)),
    Permission("commission.manage", "管理提成", (HQ,)),
    Permission("commission.pay", "支付提成", (HQ,)),
    Permission("commission.confirm", "确认结算单", (PARTNER,)),
    Permission("channel.manage", "管理通知渠道", (HQ, PARTNER)),
    # The audit log (GET /audit): who did what, from where. HQ's admin role holds it.
    Permission("audit.read", "查看审计日志", (HQ,)),
)

PERMISSIONS_BY_CODE = {p.code: p for p in PERMISSIONS}
#: HQ permissions that reach beyond any region: a user whose HQ roles are all limited to
#: regions (区域经理) holds none of them, whatever its roles list. Accounts and roles,
#: approval flows, the product catalogue, commission rates and statements, HQ's own
#: notification channels (they hear of every region), entering leads (they go wherever
#: their region says) and the audit log stay with HQ staff of the whole country.
NATIONAL_ONLY = frozenset(
    {
        "user.manage",
        "role.manage",
        "flow.manage",
        "product.manage",
        "commission.manage",
        "commission.pay",
        "channel.manage",
        "lead.create",
        "audit.read",
    }
)


@dataclass(frozen=True)
class SeedRole:
    code: str
    name: str
    scope: str
    permissions: tuple[str, ...]
    include_sub_partners: bool = False


def _all_for(scope: str) -> tuple[str, ...]:
    return tuple(p.code for p in PERMISSIONS if scope in p.scopes)


#: The built-in HQ admin role: it always holds every HQ permission, nobody edits it, and
#: ``manage.py admin restore`` puts it back whole.
ADMIN_ROLE = "hq_admin"
ADMIN_PERMISSIONS = _all_for(HQ)

SEED_ROLES: tuple[SeedRole, ...] = (
    SeedRole(ADMIN_ROLE, "总部管理员", HQ, ADMIN_PERMISSIONS),
    SeedRole(
        "channel_manager",
        "渠道经理",
        HQ,
        # Settles filing disputes and transfers by calling the contacts.
        (
            "filing.approve",
            "extension.approve",
            "customer.transfer",
            "lead.create",
            "lead.assign",
            "report.read",
            REVEAL,
        ),
    ),
    SeedRole("marketing", "市场人员", HQ, ("lead.create", "report.read")),
    SeedRole(
        "sales_ops",
        "销售运营",
        HQ,
        ("order.approve.sales", "order.fulfil", "product.manage", "report.read"),
    ),
    SeedRole(
        "finance",
        "财务",
        HQ,
        (
            "order.approve.finance",
            "order.cancel",
            "payment.record",
            "payment.manage",
            "commission.manage",
            "commission.pay",
            "report.read",
        ),
    ),
    SeedRole(
        "channel_director",
        "渠道总监",
        HQ,
        (
            "order.approve.director",
            "filing.approve",
            "extension.approve",
            "flow.manage",
            "report.read",
        ),
    ),
    SeedRole(
        "partner_admin",
        "伙伴管理员",
        PARTNER,
        (
            "customer.create",
            "lead.claim",
            "pool.claim",
            "order.create",
            "report.read",
            "user.manage",
            "commission.confirm",
            "channel.manage",
            REVEAL,
        ),
        include_sub_partners=True,
    ),
    # A partner's people sell to the contacts of their own customers (which they filed):
    # their answers show them. Other partners' customers they never see at all.
    SeedRole(
        "partner_sales",
        "伙伴销售",
        PARTNER,
        ("customer.create", "lead.claim", "pool.claim", "order.create", REVEAL),
    ),
)

SEED_PARTNER_TYPES: tuple[tuple[str, str, int, int], ...] = (
    # code, name, protection days, claim hours
    ("city_partner", "城市合伙人", 180, 72),
    ("provincial_agent", "省级代理", 180, 72),
)

#: A partner type's ``reclaim_cooldown_days`` unless HQ sets another.
DEFAULT_RECLAIM_COOLDOWN_DAYS = 30


@dataclass(frozen=True)
class SeedGrade:
    code: str
    name: str
    max_protected_customers: int | None
    protection_days: int | None
    lead_weight: int


#: The grades a new installation starts with (partners migration 0010 writes them once;
#: HQ changes them with PUT /partner-grades). The caps leave a standard partner room for
#: a salesperson's working set, and give silver and gold partners four and ten times that;
#: the weights make a gold partner get three leads for a standard partner's one when both
#: cover a region equally closely. None of them overrides the type's protection days.
SEED_GRADES: tuple[SeedGrade, ...] = (
    SeedGrade("gold", "金牌", 500, None, 3),
    SeedGrade("silver", "银牌", 200, None, 2),
    SeedGrade("standard", "普通", 50, None, 1),
)
