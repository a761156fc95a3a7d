"""The embedded stack's function environments (``tools.embedded_stack.interpreter_environment``)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import uuid

from tools.embedded_stack import REPO, interpreter_environment

LIBC = ctypes.CDLL(None)
LIBC.getenv.restype = ctypes.c_char_p

SWAPS_UNDER_READERS = """
import ctypes, os, sys, threading
sys.path.insert(0, sys.argv[1])
from tools.embedded_stack import interpreter_environment
libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p
stop = threading.Event()
def read():
    while not stop.is_set():
        libc.getenv(b"HOME"), libc.getenv(b"PICR_NOT_SET")
readers = [threading.Thread(target=read) for _ in range(2)]
for reader in readers:
    reader.start()
values = {f"PICR_SWAPPED_{index}": "x" * 40 for index in range(15)}
for _ in range(int(sys.argv[2])):
    with interpreter_environment(values):
        pass
stop.set()
for reader in readers:
    reader.join()
print("swaps done")
"""


def test_a_function_environment_is_the_interpreter_s_for_the_call_and_never_the_c_environment_s():
    new, path = f"PICR_TEST_{uuid.uuid4().hex}", os.environ["PATH"]
    with interpreter_environment({new: "during", "PATH": "during"}):
        assert (os.environ[new], os.getenv(new), os.environ["PATH"]) == ("during", "during", "during")
        assert LIBC.getenv(new.encode()) is None
        assert LIBC.getenv(b"PATH") == path.encode()
    assert new not in os.environ
    assert os.environ["PATH"] == path


def test_environments_swapped_while_other_threads_read_the_c_environment_do_not_crash_the_process():
    """What the browser tests do: a function's environment per invocation, while the servers' threads run.
    With ``os.environ`` assignments (glibc's ``setenv``) this process dies of a segmentation fault here."""
    done = subprocess.run([sys.executable, "-c", SWAPS_UNDER_READERS, str(REPO), "20000"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "swaps done"
