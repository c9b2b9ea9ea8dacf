"""The one exception type that reaches the user as a sentence instead of a traceback."""


class NanoganError(Exception):
    """A problem the user can fix (bad input, missing file, missing GPU).

    Its message is one complete sentence saying what went wrong and what to do.
    `train.py` prints it as `error: <message>` and exits with status 2; everything
    else that goes wrong is a bug and keeps its traceback.
    """
