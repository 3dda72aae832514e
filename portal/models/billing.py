"""The clinic's price list: the services a visit can be billed for (amounts in integer cents)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model

SERVICE_CATEGORIES = ("consultation", "procedure", "laboratory", "imaging", "pharmacy", "product", "other")


class Service(Model):
    """One priced service (a bill line copies its name and price, so a price change never alters a bill)."""

    __tablename__ = "service"
    __table_args__ = (
        Index("uq_service_code_lower", text("lower(code)"), unique=True),
        Index("ix_service_active_name", "is_active", "name"),
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint("min_cents IS NULL OR (min_cents >= 0 AND min_cents <= price_cents)", name="min_in_range"),
        CheckConstraint("max_cents IS NULL OR max_cents >= price_cents", name="max_in_range"),
        CheckConstraint("category IN ('consultation', 'procedure', 'laboratory', 'imaging', 'pharmacy', "
                        "'product', 'other')", name="category_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(16))
    # The list price; a variable-priced procedure may be charged between min and max.
    price_cents: Mapped[int] = mapped_column(BigInteger)
    min_cents: Mapped[int | None] = mapped_column(BigInteger)
    max_cents: Mapped[int | None] = mapped_column(BigInteger)
    is_active: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
