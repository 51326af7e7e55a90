"""The errors of ensemble building and evaluation."""


class EnsembleError(ValueError):
    """Members or data that cannot make the ensemble asked for; the message says why and what to do.

    Examples:
        >>> isinstance(EnsembleError("no members"), ValueError)
        True
    """


class MemberMismatchError(EnsembleError):
    """Members whose parameter trees differ where one stacked evaluation needs them equal.

    Examples:
        >>> issubclass(MemberMismatchError, EnsembleError)
        True
    """
