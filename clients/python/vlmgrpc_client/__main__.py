"""`python -m vlmgrpc_client ...`: the same command line as `vlmctl` (e.g. `python -m vlmgrpc_client
--target 127.0.0.1:50051 ocr page.png`)."""

import sys

from vlmgrpc_client.cli import main

if __name__ == "__main__":
    sys.exit(main())
