"""Unbound extension objects, bound to the app in create_app()."""
from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import DateTime, MetaData
from sqlalchemy.orm import DeclarativeBase, registry

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every model."""

    # Every timestamp is timestamptz; the clinic's zone applies only on display.
    registry = registry(metadata=MetaData(naming_convention=NAMING),
                        type_annotation_map={datetime: DateTime(timezone=True)})


db = SQLAlchemy(model_class=Base)
if TYPE_CHECKING:  # Flask-SQLAlchemy makes db.Model at run time; to the type checker it is Base
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
