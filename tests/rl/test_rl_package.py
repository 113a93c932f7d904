"""`oversight.rl` exports every public name lazily: importing it loads no torch."""

from __future__ import annotations

import subprocess
import sys


def test_every_exported_name_resolves_and_the_import_is_lazy():
    code = ("import sys, oversight.rl as rl\n"
            "assert 'torch' not in sys.modules, 'importing oversight.rl imported torch'\n"
            "missing = [n for n in rl.__all__ if n not in rl.MODULE_ATTRS]\n"
            "assert not missing, missing\n"
            "for name in rl.__all__: getattr(rl, name)\n"
            "print(len(rl.__all__))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 40
