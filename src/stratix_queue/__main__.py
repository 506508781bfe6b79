import sys

from stratix_queue.cli import main

sys.exit(main())
