"""Tools for the billing specialist of ``support_triage.yaml``.

The workflow names them as ``support_tools:lookup_order`` and ``support_tools:refund_policy``;
the workflow file's directory is importable while it loads, so this module needs no install.
The order table stands in for a real order system.
"""

from __future__ import annotations

_ORDERS: dict[str, dict[str, str | float | int]] = {
    "A-10482": {
        "order_id": "A-10482",
        "customer": "Maria Keller",
        "plan": "Team (annual)",
        "amount_eur": 588.0,
        "charged_times": 2,
        "status": "paid",
        "charged_on": "2025-03-03",
    },
    "A-10517": {
        "order_id": "A-10517",
        "customer": "Tom Baker",
        "plan": "Starter (monthly)",
        "amount_eur": 19.0,
        "charged_times": 1,
        "status": "paid",
        "charged_on": "2025-03-05",
    },
    "A-10533": {
        "order_id": "A-10533",
        "customer": "Lena Fischer",
        "plan": "Business (monthly)",
        "amount_eur": 99.0,
        "charged_times": 1,
        "status": "refunded",
        "charged_on": "2025-02-28",
    },
}

_REFUND_POLICIES = {
    "EU": (
        "EU: full refund of duplicate charges within 5 business days; annual plans may be "
        "cancelled for a full refund within 14 days of purchase."
    ),
    "US": (
        "US: duplicate charges are refunded within 7 business days; annual plans are refunded "
        "pro rata after 30 days."
    ),
    "UK": (
        "UK: duplicate charges are refunded within 5 business days; annual plans may be "
        "cancelled for a full refund within 14 days of purchase."
    ),
}


def lookup_order(order_id: str) -> dict[str, str | float | int]:
    """Look up an order by its id, e.g. A-10482.

    Args:
        order_id: the order id from the ticket.
    """
    order = _ORDERS.get(order_id.strip().upper())
    if order is None:
        return {"order_id": order_id, "error": "no such order"}
    return dict(order)


def refund_policy(region: str) -> str:
    """Return the refund policy for a customer region (EU, US or UK).

    Args:
        region: the customer's region code.
    """
    policy = _REFUND_POLICIES.get(region.strip().upper())
    if policy is None:
        known = ", ".join(_REFUND_POLICIES)
        return f"no refund policy for region {region!r}; known regions: {known}"
    return policy
