"""The library layer's bad-input error (:mod:`stylegan2.errors` holds the handler every command uses): a
:class:`stylegan2.InputError`, so every command handles both alike."""
from stylegan2.errors import InputError


class UserError(InputError):
    """Bad input to a gradctrl stage: one line naming the problem (file, flag or key) and the fix."""
