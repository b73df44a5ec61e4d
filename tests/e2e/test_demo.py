"""`make demo` end to end: real BasicMotions recordings through a real server, accuracy >= 0.95."""

import re
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "demo" / "basic_motions.py"


def test_demo_reaches_target_accuracy():
    result = subprocess.run([sys.executable, str(DEMO)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"per-recording accuracy: ([0-9.]+) \((\d+)/40\)", result.stdout)
    assert match, result.stdout
    assert float(match.group(1)) >= 0.95
    assert "Confusion" in result.stdout
