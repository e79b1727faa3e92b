"""The declarative base every table shares: the column types datetimes, money and JSON map to, and a primary key
type that autoincrements on both dialects."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, Integer
from sqlalchemy.orm import DeclarativeBase

from engine.store.types import Money, UTCDateTime

PK = BigInteger().with_variant(Integer, "sqlite")  # SQLite only autoincrements INTEGER PRIMARY KEY


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), Decimal: Money(), dict: JSON, list: JSON}
