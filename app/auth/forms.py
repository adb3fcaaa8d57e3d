from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from app.webkit.forms import RadBookForm


class LoginForm(RadBookForm):
    username = StringField(
        _l("Username"), validators=[DataRequired(_l("Enter your username")), Length(max=80)]
    )
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password"))])
    submit = SubmitField(_l("Log in"))


class ChangePasswordForm(RadBookForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(_l("Enter your current password"))]
    )
    new_password = PasswordField(
        _l("New password"),
        validators=[DataRequired(_l("Enter a new password")), Length(max=128)],
    )
    new_password_again = PasswordField(
        _l("New password again"),
        validators=[EqualTo("new_password", message=_l("The two passwords differ"))],
    )
    submit = SubmitField(_l("Change password"))
