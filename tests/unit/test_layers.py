"""The worker process loads nothing of the API (import layers, as a user runs them)."""
import subprocess
import sys

PROBE = ("import sys, lbaas.controller.worker, lbaas.controller.housekeeping; "
         "print(sorted(m for m in sys.modules if m.startswith(('lbaas.api', 'falcon'))))")


def test_importing_the_worker_loads_no_module_of_the_api():
    out = subprocess.run([sys.executable, '-c', PROBE], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == '[]', out
