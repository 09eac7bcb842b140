import os
import sys
from pathlib import Path

# The service reads its settings when imported; tests never reach a real gateway.
os.environ.setdefault("GATEWAY_URL", "http://127.0.0.1:9")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
