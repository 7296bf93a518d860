from __future__ import annotations

import sys

from msk_privatelink.cli.main import main

sys.exit(main())
