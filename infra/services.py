"""`make services-stop`: stop the embedded PostgreSQL and Redis (data is kept)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import localservices

if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "stop"
    if command == "stop":
        localservices.stop_postgres()
        localservices.stop_redis()
        print("Embedded PostgreSQL and Redis stopped.")
    elif command == "start":
        for line in localservices.ensure_services():
            print(line)
