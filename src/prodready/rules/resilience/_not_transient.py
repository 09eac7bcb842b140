"""Exceptions a retry cannot fix (RES002/RES003 leave loops that catch only these alone)."""

from __future__ import annotations

# Exceptions that a retry cannot fix and that do not come from an overloaded dependency: loops
# catching only these regenerate their input (a new file name, a new random key), poll a local
# queue or restart an interrupted system call -- retrying at once is right there. So do loops
# catching an optimistic-lock conflict (another client wrote the watched key or the versioned
# row first: ``WatchError``, ``StaleDataError``): the protocol is to read again and retry now.
NOT_TRANSIENT = frozenset(
    {
        "ArithmeticError",
        "AssertionError",
        "AttributeError",
        "BlockingIOError",
        "CancelledError",
        "DoesNotExist",
        "Empty",
        "EOFError",
        "FileExistsError",
        "FileNotFoundError",
        "Full",
        "ImportError",
        "IndexError",
        "IntegrityError",
        "InterruptedError",
        "IsADirectoryError",
        "JSONDecodeError",
        "KeyError",
        "KeyboardInterrupt",
        "LookupError",
        "ModuleNotFoundError",
        "MultipleObjectsReturned",
        "NameError",
        "NotADirectoryError",
        "NotImplementedError",
        "ObjectDoesNotExist",
        "OverflowError",
        "PermissionError",
        "RecursionError",
        "SSLWantReadError",
        "SSLWantWriteError",
        "StopAsyncIteration",
        "StaleDataError",
        "StopIteration",
        "SystemExit",
        "TypeError",
        "UnicodeDecodeError",
        "UnicodeEncodeError",
        "UnicodeError",
        "ValidationError",
        "ValueError",
        "WatchError",
        "ZeroDivisionError",
    }
)
