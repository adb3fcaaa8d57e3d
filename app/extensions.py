"""Flask extensions, created unbound and attached in ``create_app`` (``init_app``)."""

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from scheduling.db import Base

# Flask-SQLAlchemy over the core's own declarative base: one metadata for every table.
db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
